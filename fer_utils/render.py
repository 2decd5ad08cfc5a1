"""The report of a run: each executed notebook as an HTML page (nbconvert's lab template, and a no-input
variant for hand-in) and an index page with the report's parts in order, their figures inline, the results
beside the published numbers, and the run's manifest; the numbers also go to report/results.json.
`publish` copies what of a run may be committed (nothing that shows a face) into the project."""

from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path

from . import atomic, preprocess, reference, registry, results
from .config import RunPaths

# Which notebook (by number) each of the report's Figures 1-8 belongs to.
FIGURE_PART = {"fig1": "02", "fig2": "03", "fig3": "04", "fig4": "05", "fig5": "06", "fig6": "07", "fig7": "07",
               "fig8": "08", "fig9": "09"}
# Figures that show no face, committed with the reference run; every other figure stays in the run folder.
FACE_FREE_FIGURES = ("fig1_cnn_training", "fig2_cnn_no_augmentation", "fig3_dnn_training", "fig4_confusion_matrix",
                     "fig7_layer2_filters", "08_dlsvm_training", "fig9_recipes")


class RenderError(RuntimeError):
    """A run folder that cannot be rendered; the message is one line for the user."""


def render(run_dir: str | os.PathLike, progress=print) -> Path:
    """Write `run_dir/report/` (pages, no-input pages, figures, results.json, index.html) and return the
    index. The report is built aside and swapped in whole, so a failure leaves the previous one intact."""
    run = Path(run_dir).expanduser().resolve()
    executed = sorted((run / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not executed:
        raise RenderError(f"{run / 'notebooks'} holds no executed notebooks: run `fer-report run` first")
    out = run / f"{atomic.PARTIAL_PREFIX}report"
    shutil.rmtree(out, ignore_errors=True)
    (out / "no-input").mkdir(parents=True)
    parts = []
    for nb in executed:
        title, narrative = _write_pages(nb, out)
        parts.append({"stem": nb.stem, "title": title, "narrative": narrative})
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
    atomic.write_text(out / "index.html", _index(parts, run_results, manifest, taken))
    _swap_in(out, run / "report")
    return run / "report" / "index.html"


def results_of(run: Path, manifest: dict) -> dict:
    """The run's results.json: every trained model's results record (`fer_utils.results`), with the profile and
    the data's SHA-256, and the run's ensemble (`fer_utils.ensemble`) when it has one."""
    summary = {"profile": manifest.get("profile", run.name), "data_sha256": manifest.get("data", {}).get("sha256"),
               "models": results.collect(run)}
    if RunPaths(run).ensemble.exists():
        summary["ensemble"] = json.loads(RunPaths(run).ensemble.read_text())
    return summary


# nbconvert's lab template without the scripts it fetches from a CDN (require.js, MathJax, mermaid): the
# notebooks use no widgets, formulas or diagrams, and a page opened offline would wait on each of them
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def _write_pages(notebook: Path, out: Path) -> tuple[str, str]:
    """The notebook's page with code, and its hand-in page: no code, and no log lines (stderr), which hold
    timings and the machine's paths rather than results. Both load nothing from the network."""
    import copy

    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
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


def _index(parts: list[dict], run_results: dict, manifest: dict, taken: dict | None = None) -> str:
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
        sections.append(f'<section id="{e(part["stem"])}"><h2>{e(part["title"])}</h2>{markdown(part["narrative"])}'
                        f'<p><a href="{e(part["stem"])}.html">the notebook</a> · '
                        f'<a href="no-input/{e(part["stem"])}.html">without code</a></p>{images}</section>')
    contents = "".join(f'<li><a href="#{e(p["stem"])}">{e(p["title"])}</a></li>' for p in parts)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>FER2013 report: {e(run_results["profile"])} profile</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }}
table {{ border-collapse: collapse; font-size: 0.9rem; }} th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; }}
td {{ text-align: right; }} figure {{ margin: 1rem 0; }} img {{ max-width: 100%; }}
figcaption {{ color: #666; font-size: 0.8rem; }} section {{ border-top: 1px solid #ddd; margin-top: 2rem; }}
</style></head><body>
<h1>Facial expression recognition on FER2013</h1>
<p>The report series run under the <b>{e(run_results["profile"])}</b> profile. Every number and figure below was
produced by the notebooks linked in each part.</p>
{_provenance(run_results["models"], taken or {})}
<ol>{contents}<li><a href="#results">Results</a></li><li><a href="#manifest">How this run was made</a></li></ol>
{"".join(sections)}
<section id="results"><h2>Results</h2>
<p>Best epoch chosen on val (PublicTest); test is PrivateTest. Published numbers are below the run's models.</p>
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


def publish(run_dir: str | os.PathLike, project: str | os.PathLike, only: list[str] | None = None,
            into: str = "report") -> list[Path]:
    """Copy a rendered run's face-free results into `project`: report/results.json (and as a Markdown table,
    results.md), report/manifest.json (the data named by file name and SHA-256, no path of this machine),
    report/histories/<model>.csv, report/outputs/<model>.npz (val and test outputs with the chosen views: numbers,
    no face), FACE_FREE_FIGURES into figures/, and each model's best model without
    optimizer state in the compact form (`reference.save_compact`; a model whose weights are already committed
    is not rewritten), with the preprocessing statistics, into report/models/. With `only` (model names, and
    "ensemble"), the run need not be rendered: just those models' records, histories and weights (and the run's
    ensemble) replace theirs in the committed results, beside the others; the run must use the committed
    preprocessing statistics. `into` names the folder of the project that holds
    the reference run ("report"; a second one, e.g. "report/full", keeps its figures in its own figures/).
    Returns the files written."""
    from .train import keras, load_best

    run, project = RunPaths(Path(run_dir).expanduser().resolve()), Path(project)
    if Path(into).is_absolute() or ".." in Path(into).parts or not Path(into).parts:
        raise RenderError(f"--into {into!r}: name a folder inside the project, such as report or report/full")
    folder = project / into
    figures = project / "figures" if Path(into) == Path("report") else folder / "figures"
    committed = folder / results.RESULTS_FILE
    if only:
        run_results = _updated(committed, run, only, folder)
        names = [n for n in only if n != "ensemble"]
    else:
        source = run.root / "report" / results.RESULTS_FILE
        if not source.exists():
            raise RenderError(f"{source} is missing: run `fer-report render` on this run first")
        run_results = json.loads(source.read_text())
        names = list(run_results["models"])
    written = []

    def put(target: Path, text: str | None = None, copy_of: Path | None = None) -> None:
        if copy_of is not None:
            atomic.write_bytes(target, copy_of.read_bytes())
        else:
            atomic.write_text(target, text)
        written.append(target)

    put(committed, json.dumps(run_results, indent=1) + "\n")
    put(folder / "results.md", results.markdown(results.table(
        run_results["models"], anchors=True, ensemble=run_results.get("ensemble"))))
    if not only:
        put(folder / "manifest.json", json.dumps(publishable_manifest(
            json.loads((run.root / "manifest.json").read_text())), indent=1) + "\n")
    for name in names:
        put(folder / "histories" / f"{name}.csv", copy_of=run.model(name) / "history.csv")
        if (run.model(name) / results.OUTPUTS_FILE).exists():
            put(folder / "outputs" / f"{name}.npz", copy_of=run.model(name) / results.OUTPUTS_FILE)
    for name in FACE_FREE_FIGURES:
        if (run.figures / f"{name}.png").exists():
            put(figures / f"{name}.png", copy_of=run.figures / f"{name}.png")
    for name in names:
        model = load_best(run.root, name)  # loaded without its optimizer
        target = folder / "models" / f"{name}.keras"
        if not (target.exists() and reference.same_weights(keras.models.load_model(target, compile=False), model)):
            reference.save_compact(model, target)
            written.append(target)
    for kind in sorted({registry.get(n).preprocessing for n in names} | ({"report"} if not only else set())):
        target = RunPaths(folder).statistics(kind)
        if not target.exists() or target.read_bytes() != run.statistics(kind).read_bytes():
            put(target, copy_of=run.statistics(kind))
    return written


def _updated(committed: Path, run: RunPaths, only: list[str], folder: Path) -> dict:
    """The committed results (in `folder`) with the run's records of `only` (and its ensemble) in place of
    theirs, when the run's preprocessing statistics are the committed ones (or, for a kind not committed yet,
    exist)."""
    if not committed.exists():
        raise RenderError(f"{committed} is missing: publish a whole rendered run first")
    kinds = {registry.get(n).preprocessing for n in only if n != "ensemble"}
    for kind in sorted(kinds | ({"report"} if "ensemble" in only else set())):
        mine, theirs = run.statistics(kind), RunPaths(folder).statistics(kind)
        if not mine.exists():
            raise RenderError(f"{mine} is missing: the run has not trained a model with that preprocessing")
        if theirs.exists() and not preprocess.same_statistics(mine, theirs):
            raise RenderError(f"{mine} differs from the committed {theirs}: the models would not match the "
                              f"committed preprocessing; publish the whole run instead")
    current = json.loads(committed.read_text())
    models = dict(current["models"])
    for name in only:
        if name == "ensemble":
            if not run.ensemble.exists():
                raise RenderError(f"{run.ensemble} is missing: run notebook 09 first")
            current["ensemble"] = json.loads(run.ensemble.read_text())
        else:
            models[name] = results.read(run.root, name)
    current["models"] = {n: models[n] for n in [*registry.MODELS, *models] if n in models}
    return current


def publishable_manifest(manifest: dict) -> dict:
    """The run's manifest as committed: the data named by its file name (with its SHA-256), not by a path."""
    data = dict(manifest.get("data", {}))
    if "source" in data:
        data["source"] = Path(data["source"]).name
    return {**manifest, "data": data}
