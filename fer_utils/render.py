"""The HTML report of a run, in run_dir/report/: each executed notebook as a page (nbconvert's lab template, and
a no-input variant for hand-in) and an index page that opens with the report's claims checked against the run,
then the report's parts in order with their figures inline, the results beside the literature's numbers, and the
run's manifest; the numbers also go to report/results.json and report/claims.json."""

from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path

from . import atomic, claims, findings, lock, reference, registry, results
from .paths import RunPaths
from .errors import UserError

# Which notebook (by number) each of the report's numbered figures belongs to.
FIGURE_PART = {"fig1": "02", "fig2": "03", "fig3": "04", "fig4": "05", "fig5": "06", "fig6": "07", "fig7": "07",
               "fig8": "08", "fig9": "09"}
class RenderError(UserError):
    """A run folder that cannot be rendered; the message is one line for the user."""


def render(run_dir: str | os.PathLike, progress=print, partial: bool = False) -> Path:
    """Write `run_dir/report/` (pages, no-input pages, figures, results.json, claims.json, index.html) and return the
    index. The report is built aside and swapped in whole, so a failure leaves the previous one intact. A notebook
    that did not finish (`unfinished`) is a RenderError naming it, unless `partial`: then its part and its pages
    say that it is incomplete."""
    run = Path(run_dir).expanduser().resolve()
    if not run.is_dir():
        raise RenderError(f"{run} is not a run folder: run `fer-report run` first" if not run.exists() else
                          f"{run} is a file, not a run folder")
    executed = sorted((run / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not executed:
        raise RenderError(f"{run / 'notebooks'} holds no executed notebooks: run `fer-report run` first")
    stopped = {nb.stem: why for nb in executed if (why := unfinished(nb)) is not None}
    if stopped and not partial:
        numbers = ",".join(stem[:2] for stem in stopped)
        raise RenderError(f"{'; '.join(f'{stem} {why}' for stem, why in stopped.items())}: finish with "
                          f"`fer-report run --only {numbers}` (same profile and run folder), or render what there "
                          f"is with --partial")
    with lock.holding(RunPaths(run).lock, "fer-report render"):  # one writer of the run's report at a time
        return _render(run, executed, stopped, progress)


def _render(run: Path, executed: list[Path], stopped: dict[str, str], progress) -> Path:
    out = run / f"{atomic.PARTIAL_PREFIX}report"
    shutil.rmtree(out, ignore_errors=True)
    (out / "no-input").mkdir(parents=True)
    parts = []
    for nb in executed:
        title, narrative = _write_pages(nb, out, stopped.get(nb.stem))
        parts.append({"stem": nb.stem, "title": title, "narrative": narrative, "unfinished": stopped.get(nb.stem)})
        progress(f"rendered {nb.stem}", flush=True)
    figures = sorted((run / "figures").glob("*.png"))
    if figures:
        shutil.copytree(run / "figures", out / "figures")
    else:
        (out / "figures").mkdir()
    for part in parts:
        part["figures"] = _figures_of(part["stem"], figures)
    manifest = json.loads((run / "manifest.json").read_text()) if (run / "manifest.json").exists() else {}
    run_results = results_of(run, manifest)
    taken = {name: marker for name in run_results["models"]
             if (marker := reference.adopted(RunPaths(run).model(name))) is not None}
    atomic.write_json(out / "results.json", run_results)
    checked = claims.evaluate(findings.Evidence.of_run(run))
    claims.write(out, checked)
    atomic.write_text(out / "index.html", _index(parts, run_results, manifest, taken, checked))
    _swap_in(out, run / "report")
    return run / "report" / "index.html"


def results_of(run: Path, manifest: dict) -> dict:
    """The run's results.json: every trained model's results record (`fer_utils.results`), with the profile and
    the data's SHA-256, the run's ensemble (`fer_utils.ensemble`) and calibration (`fer_utils.calibration`)
    when it has them, and where it stands against its goals (`fer_utils.results.goals`)."""
    summary = {"profile": manifest.get("profile", run.name), "data_sha256": manifest.get("data", {}).get("sha256"),
               "models": results.collect(run)}
    seeds = results.collect_seeds(run)
    if seeds:
        summary["seeds"] = seeds
    for key, path in (("ensemble", RunPaths(run).ensemble), ("calibration", RunPaths(run).calibration)):
        if path.exists():
            summary[key] = json.loads(path.read_text())
    summary["goals"] = results.goals(summary["models"], seeds, summary.get("ensemble"))
    return summary


# nbconvert's lab template without the scripts it fetches from a CDN (require.js, MathJax, mermaid): the
# notebooks use no widgets, formulas or diagrams, and a page opened offline would wait on each of them
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def unfinished(notebook: Path) -> str | None:
    """Why an executed notebook is incomplete ("failed in cell k", "stopped before cell k"), or None when papermill
    ran it to the end (a notebook executed elsewhere, without papermill's record, counts as finished)."""
    import nbformat

    try:
        nb = nbformat.read(notebook, as_version=4)
    except (ValueError, nbformat.reader.NotJSONError, UnicodeDecodeError) as e:  # cut short (a full disk...)
        raise RenderError(f"{notebook}: not a readable notebook ({_first_line(str(e))[:80]}): run it again with "
                          f"`fer-report run --only {notebook.stem[:2]}`") from None
    if "papermill" not in nb.metadata:
        return None
    for number, cell in enumerate(nb.cells, 1):
        status = cell.metadata.get("papermill", {}).get("status")
        if cell.cell_type == "code" and status == "failed":
            return f"failed in cell {number}"
        if cell.cell_type == "code" and status in ("pending", "running"):
            return f"stopped before cell {number}"
    return "failed" if nb.metadata.papermill.get("exception") else None


def _write_pages(notebook: Path, out: Path, stopped: str | None = None) -> tuple[str, str]:
    """The notebook's page with code, and its hand-in page: no code, and no log lines (stderr), which hold
    timings and the machine's paths rather than results; a notebook that did not finish says so at the top of
    both. Both load nothing from the network."""
    import copy

    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    if stopped:
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(
            f"**Incomplete: this notebook {stopped}**; what follows is what it produced before. Finish it with "
            f"`fer-report run --only {notebook.stem[:2]}` on the same profile and run folder."))
    hand_in = copy.deepcopy(nb)
    for cell in hand_in.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
    for page, exclude, folder in ((nb, False, out), (hand_in, True, out / "no-input")):
        exporter = HTMLExporter(template_name="lab", template_file="offline.html.j2",
                                extra_loaders=[jinja2.DictLoader({"offline.html.j2": OFFLINE_TEMPLATE})],
                                exclude_input=exclude, exclude_input_prompt=exclude, exclude_output_prompt=exclude)
        body, _ = exporter.from_notebook_node(page)
        atomic.write_text(folder / f"{notebook.stem}.html", body)
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), notebook.stem)
    title, _, narrative = first.partition("\n")
    return title.lstrip("# ").strip(), " ".join(narrative.split())


def _figures_of(stem: str, figures: list[Path]) -> list[str]:
    """The figure files of one part: its numbered report figures first, then its own (named NN_...)."""
    number = stem[:2]
    numbered = [f.name for f in figures if FIGURE_PART.get(f.stem.split("_")[0]) == number]
    own = [f.name for f in figures if f.stem.startswith(f"{number}_")]
    return numbered + own


def _provenance(models: dict, taken: dict) -> str:
    """Which of the run's models were trained here and which were taken from a reference run (with its commit)."""
    e = html.escape
    if not taken:
        return "<p>Every model of this run was trained here.</p>" if models else ""
    by_source = {}
    for name, marker in taken.items():
        by_source.setdefault((marker["reference"], marker["git_commit"]), []).append(registry.label(name))
    sources = "; ".join(f"{e(', '.join(labels))} from <code>{e(folder)}/</code> at commit <code>{e(commit[:12])}</code>"
                        for (folder, commit), labels in by_source.items())
    here = [registry.label(n) for n in models if n not in taken]
    reused = [registry.label(n) for n in taken if models.get(n, {}).get("evaluated_in")]
    measured = [registry.label(n) for n in taken if n in models and not models[n].get("evaluated_in")]
    return (f'<p id="provenance"><b>Trainings taken from the committed reference run</b>, not trained here: {sources}. '
            + (f'The evaluations (accuracies, test-time views chosen on val, the outputs the ensemble combines) of '
               f'{"all of them" if not measured else e("; ".join(reused))} are the reference run\'s too, on the same '
               f'data; the test suite reproduces them from the committed weights. ' if reused else '')
            + (f'Evaluated here from the committed weights: {e("; ".join(measured))}. ' if measured else '')
            + f'{"Trained here: " + e(", ".join(here)) + ". " if here else ""}'
            f'<code>fer-report run --retrain</code> trains and evaluates every model here.</p>')


def _claims_html(checked: list[dict]) -> str:
    """The claims table: each claim of the report with this run's measurement, budget and verdict."""
    e = html.escape
    rows = "".join(f'<tr class="{e(r["verdict"].replace(" ", "-"))}"><td>{e(r["claim"])}</td><td>{e(r["measured"])}</td>'
                   f'<td>{e(r.get("threshold", ""))}</td><td>{e(r["budget"])}</td><td><b>{e(r["verdict"])}</b>'
                   f'{("<p class=why>" + e(r["why"]) + "</p>") if r["why"] else ""}'
                   f'{("<p class=experiment>Tested: " + e(r["experiment"]) + "</p>") if r.get("experiment") else ""}'
                   f'</td><td><a href="#{e(r["notebook"])}">{e(r["notebook"][:2])}</a></td></tr>' for r in checked)
    return (f'<section id="claims"><h2>The report\'s claims in this run</h2><p>Each verdict is computed from this '
            f'run\'s results (claims.json); test is PrivateTest, scored with the test-time views chosen on val. '
            f'Intervals are 95%: Wilson\'s for one accuracy, a paired bootstrap over the same faces for a difference '
            f'(with McNemar\'s exact test); a comparison holds only where its interval excludes zero. Under a verdict '
            f'other than holds: its likeliest reason, and the experiment that tested it.</p><table><tr><th>claim</th>'
            f'<th>this run</th><th>rule (the report\'s words) and margin</th><th>budget (epochs of the report\'s)</th>'
            f'<th>verdict</th><th>notebook</th></tr>{rows}</table></section>')


def _index(parts: list[dict], run_results: dict, manifest: dict, taken: dict | None = None,
           checked: list[dict] | None = None) -> str:
    from mistune import html as markdown

    if run_results["models"]:
        table_html = results.formatted(results.table(run_results["models"], anchors=True,
                                                     ensemble=run_results.get("ensemble"))).to_html()
    else:
        table_html = "<p>No trained models.</p>"
    e = html.escape
    sections = []
    for part in parts:
        images = "".join(f'<figure><img src="figures/{e(f)}" alt="{e(f)}"><figcaption>{e(f)}</figcaption></figure>'
                         for f in part["figures"])
        flag = (f'<p class="incomplete"><b>Incomplete: this notebook {e(part["unfinished"])}.</b></p>'
                if part.get("unfinished") else "")
        sections.append(f'<section id="{e(part["stem"])}"><h2>{e(part["title"])}</h2>{flag}'
                        f'{markdown(part["narrative"])}'
                        f'<p><a href="{e(part["stem"])}.html">the notebook</a> · '
                        f'<a href="no-input/{e(part["stem"])}.html">without code</a></p>{images}</section>')
    contents = "".join(f'<li><a href="#{e(p["stem"])}">{e(p["title"])}</a>'
                       f'{" <b>(incomplete)</b>" if p.get("unfinished") else ""}</li>' for p in parts)
    stopped = [p["stem"] for p in parts if p.get("unfinished")]
    warning = (f'<p class="incomplete"><b>This run is incomplete</b>: {e(", ".join(stopped))} did not finish, so '
               f'its numbers and figures are missing or partial, and the claims below rest on what finished.</p>'
               if stopped else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>FER2013 report: {e(run_results["profile"])} profile</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }}
table {{ border-collapse: collapse; font-size: 0.9rem; }} th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; }}
td {{ text-align: right; }} #claims td {{ text-align: left; }} tr.holds b {{ color: #1a7f37; }}
tr.does-not-hold b {{ color: #b42318; }} .why, .experiment {{ margin: 0.2rem 0; font-size: 0.85rem; }} .incomplete {{ color: #b42318; }} figure {{ margin: 1rem 0; }} img {{ max-width: 100%; }}
figcaption {{ color: #666; font-size: 0.8rem; }} section {{ border-top: 1px solid #ddd; margin-top: 2rem; }}
</style></head><body>
<h1>Facial expression recognition on FER2013</h1>
<p>The report series run under the <b>{e(run_results["profile"])}</b> profile. Every number and figure below was
produced by the notebooks linked in each part.</p>
{warning}
{_claims_html(checked or [])}
{_provenance(run_results["models"], taken or {})}
<ol><li><a href="#claims">The report's claims</a></li>{contents}<li><a href="#results">Results</a></li><li><a href="#manifest">How this run was made</a></li></ol>
{"".join(sections)}
<section id="results"><h2>Results</h2>
<p>Best epoch chosen on val (PublicTest); test is PrivateTest. The literature's numbers are below the run's models.</p>
{table_html}</section>
<section id="manifest"><h2>How this run was made</h2>{_manifest_html(manifest)}</section>
</body></html>
"""


def _manifest_html(manifest: dict) -> str:
    if not manifest:
        return "<p>No manifest.json in the run folder (it was not made by fer-report run).</p>"
    e = html.escape
    rows = [("profile", manifest["profile"]), ("data", Path(manifest["data"]["source"]).name),
            ("data SHA-256", manifest["data"]["sha256"]), ("Keras backend", manifest["keras_backend"]),
            ("devices", ", ".join(manifest["devices"])), ("git commit", manifest["git_commit"]),
            ("started", manifest["started"]),
            ("versions", ", ".join(f"{k} {v}" for k, v in manifest["versions"].items())),
            ("parameters", ", ".join(f"{k} = {v}" for k, v in manifest["parameters"].items()))]
    rows += [(f"{name}: from the reference run", f"{m['model']}, commit {m['git_commit']}")
             for name, m in manifest.get("reference", {}).items()]
    rows += [(f"notebook {stem}", f"{t['seconds']:.0f} s, finished {t['finished']}")
             for stem, t in manifest["notebooks"].items()]
    return "<table>" + "".join(f"<tr><th>{e(k)}</th><td style='text-align:left'>{e(str(v))}</td></tr>"
                               for k, v in rows) + "</table>"


def _swap_in(new: Path, target: Path) -> None:
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)
