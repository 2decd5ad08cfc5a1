"""What of a run may be committed, copied into the project as a reference run: results, histories, outputs
(numbers), claims, face-free figures and compact models, never anything that shows a face."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from . import atomic, claims, findings, preprocess, reference, registry, results
from .paths import RunPaths
from .errors import UserError

# Figures that show no face, committed with the reference run; every other figure stays in the run folder.
FACE_FREE_FIGURES = ("fig1_cnn_training", "fig2_cnn_no_augmentation", "fig3_dnn_training", "fig4_confusion_matrix",
                     "fig7_layer2_filters", "08_dlsvm_training", "fig9_recipes", "03_keras2_augmentation",
                     "09_reliability")




class PublishError(UserError):
    """A run that cannot be published as asked; the message is one line for the user."""


def publish(run_dir: str | os.PathLike, project: str | os.PathLike, only: list[str] | None = None,
            into: str = "reference") -> list[Path]:
    """Copy a rendered run's face-free results into `project`/`into` (default reference/): results.json (and as a
    Markdown table, results.md), claims.json, findings.json, manifest.json (the data named by file name and
    SHA-256, no path of this machine), histories/<model>.csv, outputs/<model>.npz (val and test outputs with the
    chosen views: numbers, no face), FACE_FREE_FIGURES into figures/, and each model's best model without
    optimizer state in the compact form (`reference.save_compact`; a model whose weights are already committed is
    not rewritten), with the preprocessing statistics, into models/; files of trainings the run does not hold
    are removed. With `only` (model names, and "ensemble"), the run need not be rendered: just those models'
    records, histories and weights (and the run's ensemble) replace theirs in the committed results, beside the
    others, and the claims are computed again; the run must use the committed preprocessing statistics. A second
    reference run (`into` e.g. "reference/full") keeps its figures in its own figures/. Returns the files written."""
    from .loading import load_best
    from .models import keras

    run, project = RunPaths(Path(run_dir).expanduser().resolve()), Path(project)
    if not run.root.is_dir():
        raise PublishError(f"{run.root} is a file, not a run folder" if run.root.exists() else
                           f"{run.root} is not a run folder: run `fer-report run` and `render` first")
    if Path(into).is_absolute() or ".." in Path(into).parts or not Path(into).parts:
        raise PublishError(f"--into {into!r}: name a folder inside the project, such as reference or reference/full")
    folder = project / into
    figures = project / "figures" if Path(into) == Path("reference") else folder / "figures"
    committed = folder / results.RESULTS_FILE
    if only:
        run_results = _updated(committed, run, only, folder)
        names = [n for n in only if n != "ensemble"]
    else:
        source = run.root / "report" / results.RESULTS_FILE
        if not source.exists():
            raise PublishError(f"{source} is missing: run `fer-report render` on this run first")
        run_results = json.loads(source.read_text())
        names = list(run_results["models"])
    # an evaluation the run took from this very reference run is the reference's own: nothing to point back to
    run_results["models"] = {n: {k: v for k, v in r.items() if not (k == "evaluated_in" and v == Path(into).as_posix())}
                             for n, r in run_results["models"].items()}
    # everything is written into a copy of the folder (and of the figures), swapped in whole at the end: a publish
    # that fails part-way leaves the committed run as it was
    stage = folder.with_name(f"{atomic.PARTIAL_PREFIX}publish-{folder.name}")
    inside = figures.is_relative_to(folder)  # a second reference run keeps its figures in its own folder
    staged_figures = stage / figures.relative_to(folder) if inside else \
        figures.with_name(f"{atomic.PARTIAL_PREFIX}publish-{figures.name}")
    for path in (stage, staged_figures):
        shutil.rmtree(path, ignore_errors=True)
    try:
        written = _write(run, run_results, names, only, stage, staged_figures, folder, keras, load_best)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        shutil.rmtree(staged_figures, ignore_errors=True)
        raise
    _swap_in(stage, folder)
    if not inside:
        figures.mkdir(parents=True, exist_ok=True)
        for staged in sorted(staged_figures.glob("*.png")):
            atomic.write_bytes(figures / staged.name, staged.read_bytes())
        shutil.rmtree(staged_figures, ignore_errors=True)
    return [figures / p.name if p.parent == staged_figures else folder / p.relative_to(stage) for p in written]


def _swap_in(stage: Path, folder: Path) -> None:
    """Put the folder `stage` where `folder` is, the old one removed."""
    old = folder.with_name(f"{atomic.PARTIAL_PREFIX}old-{folder.name}")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(stage, folder)
    shutil.rmtree(old, ignore_errors=True)


def _write(run: RunPaths, run_results: dict, names: list[str], only, stage: Path, staged_figures: Path,
           folder: Path, keras, load_best) -> list[Path]:
    """Write what `publish` publishes into `stage` (a copy of `folder`, which it stays beside) and the figures into
    `staged_figures`; the files written, at their staged paths."""
    if folder.exists():
        shutil.copytree(folder, stage)
    if not only:  # the whole run replaces the committed one: no model, history or outputs of a training it lacks
        shutil.rmtree(stage / "histories", ignore_errors=True)
        shutil.rmtree(stage / "outputs", ignore_errors=True)
        for model in (stage / "models").glob("*.keras"):
            if model.stem not in names:
                model.unlink()
    stage.mkdir(parents=True, exist_ok=True)
    staged_figures.mkdir(parents=True, exist_ok=True)
    committed, figures = stage / results.RESULTS_FILE, staged_figures
    folder = stage
    written: list[Path] = []

    def put(target: Path, text: str | None = None, copy_of: Path | None = None) -> None:
        if copy_of is not None:
            atomic.write_bytes(target, copy_of.read_bytes())
        else:
            atomic.write_text(target, text)
        written.append(target)

    for name in names:
        model = load_best(run.root, name)  # loaded without its optimizer
        target = folder / "models" / f"{name}.keras"
        if not (target.exists() and reference.same_weights(keras.models.load_model(target, compile=False), model)):
            reference.save_compact(model, target)
            written.append(target)
        run_results["models"][name] = reference.seal({**run_results["models"][name],
                                                      reference.MODEL_SHA256: atomic.file_sha256(target)})
    if not only:  # each record with its own SHA-256: a byte changed by hand later is caught when it is reused
        run_results["seeds"] = {name: {seed: reference.seal(r) for seed, r in seeds.items()}
                                for name, seeds in run_results.get("seeds", {}).items()}
    run_results["goals"] = results.goals(run_results["models"], run_results.get("seeds", {}),
                                         run_results.get("ensemble"))
    put(committed, json.dumps(run_results, indent=1) + "\n")
    put(folder / "results.md", results.markdown(results.table(
        run_results["models"], anchors=True, ensemble=run_results.get("ensemble"))))
    if not only and (run.root / findings.FINDINGS_FILE).exists():
        put(folder / findings.FINDINGS_FILE, copy_of=run.root / findings.FINDINGS_FILE)
    if not only:
        put(folder / "manifest.json", json.dumps(publishable_manifest(
            json.loads((run.root / "manifest.json").read_text())), indent=1) + "\n")
    for name in names:
        put(folder / "histories" / f"{name}.csv", copy_of=run.model(name) / "history.csv")
        if (run.model(name) / results.OUTPUTS_FILE).exists():
            put(folder / "outputs" / f"{name}.npz", copy_of=run.model(name) / results.OUTPUTS_FILE)
    for name, seeds in ({} if only else run_results.get("seeds", {})).items():  # extra seeds: numbers, no weights
        for seed in seeds:
            history, outputs = reference.seed_paths(folder, name, int(seed))
            put(history, copy_of=run.seed_model(name, int(seed)) / "history.csv")
            put(outputs, copy_of=run.seed_model(name, int(seed)) / results.OUTPUTS_FILE)
    for name in FACE_FREE_FIGURES:
        if (run.figures / f"{name}.png").exists():
            put(figures / f"{name}.png", copy_of=run.figures / f"{name}.png")
    for kind in sorted({registry.get(n).preprocessing for n in names} | ({"report"} if not only else set())):
        target = RunPaths(folder).statistics(kind)
        if not target.exists() or target.read_bytes() != run.statistics(kind).read_bytes():
            put(target, copy_of=run.statistics(kind))
    written.append(claims.write(folder, claims.evaluate(findings.Evidence.of_reference(folder))))
    return written


def _updated(committed: Path, run: RunPaths, only: list[str], folder: Path) -> dict:
    """The committed results (in `folder`) with the run's records of `only` (and its ensemble) in place of
    theirs, when the run's preprocessing statistics are the committed ones (or, for a kind not committed yet,
    exist)."""
    if not committed.exists():
        raise PublishError(f"{committed} is missing: publish a whole rendered run first")
    kinds = {registry.get(n).preprocessing for n in only if n != "ensemble"}
    for kind in sorted(kinds | ({"report"} if "ensemble" in only else set())):
        mine, theirs = run.statistics(kind), RunPaths(folder).statistics(kind)
        if not mine.exists():
            raise PublishError(f"{mine} is missing: the run has not trained a model with that preprocessing")
        if theirs.exists() and not preprocess.same_statistics(mine, theirs):
            raise PublishError(f"{mine} differs from the committed {theirs}: the models would not match the "
                              f"committed preprocessing; publish the whole run instead")
    current = json.loads(committed.read_text())
    models = dict(current["models"])
    for name in only:
        if name == "ensemble":
            if not run.ensemble.exists():
                raise PublishError(f"{run.ensemble} is missing: run notebook 09 first")
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
