"""On the real FER2013 (found through $FER2013_DATA or data/): split sizes, and the smoke series end to end.
Skipped, with the reason, where no copy of the data is found."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys

import nbformat
import numpy as np
import pytest

from fer_utils import claims, cli, data, evaluation, findings, paths, profiles, reference, registry, series, train
from fer_utils.preprocess import Preprocessor
from tests import browser
from tests import fer_files as ff


@pytest.fixture(scope="module")
def real_source():
    try:
        return data.resolve_source(None)
    except (FileNotFoundError, data.DataError) as e:
        pytest.skip(f"no FER2013 data found ({e}); set {data.DATA_ENV} or see data/README.md")


def test_real_data_has_the_standard_splits(real_source):
    ds = data.load_fer2013(real_source)
    if ds.val_carved:  # a training-only source
        assert len(ds.train) + len(ds.val) == 28709 and ds.test is None
    else:
        assert (len(ds.train), len(ds.val), len(ds.test)) == (28709, 3589, 3589)
        assert data.class_counts(ds).loc["all", "total"] == 35887
    assert np.bincount(np.concatenate([ds.train.labels, ds.val.labels]), minlength=7)[1] > 400  # disgust is rare


def test_csv_forms_of_the_real_data_match_it(real_source, tmp_path):
    """fer2013.csv and a training-only train.csv written from the real faces (every fourth face of each split)
    read back the same pixels."""
    ds = data.load_fer2013(real_source)
    if ds.val_carved:
        pytest.skip("the real source is training-only; nothing to write a fer2013.csv from")
    usage = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
    kept = {name: (s.images[::4], s.labels[::4]) for name, s in ds.splits().items()}
    parts = [(x, y, np.full(len(y), usage[name])) for name, (x, y) in kept.items()]
    images, labels, usages = (np.concatenate(p) for p in zip(*parts))
    full = data.load_fer2013(ff.write_fer2013_csv(tmp_path / "fer2013.csv", images, labels, usages, crlf=True),
                             use_cache=False)
    for name in data.SPLITS:
        np.testing.assert_array_equal(getattr(full, name).images, kept[name][0])
        np.testing.assert_array_equal(getattr(full, name).labels, kept[name][1])
    train = data.load_fer2013(ff.write_train_csv(tmp_path / "train.csv", *kept["train"]), use_cache=False)
    assert len(train.train) + len(train.val) == len(kept["train"][1]) == 7178 and train.test is None


SERIES = {"tensorflow": "smoke", "jax": "smoke-jax"}  # backend: its run folder under runs/


@pytest.mark.notebooks
@pytest.mark.parametrize("backend", [pytest.param(b, marks=pytest.mark.xdist_group(f"series-{b}")) for b in SERIES])
def test_smoke_series_runs_end_to_end(real_source, backend):
    """fer-report runs every notebook under the smoke profile, on each Keras backend, after one line with the
    expected training time; `make test` then re-checks the executed notebooks with nbval."""
    if backend == "jax":
        pytest.importorskip("jax")
    run_dir = paths.RUNS_DIR / SERIES[backend]
    result = subprocess.run([sys.executable, "-m", "fer_utils.cli", "run", "--profile", "smoke",
                             "--run-dir", str(run_dir)], capture_output=True, text=True,
                            env={**os.environ, data.DATA_ENV: str(real_source), "KERAS_BACKEND": backend})
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Keras backend {backend}" in result.stdout
    notebooks = series.select_notebooks()
    estimate = result.stdout.index("fer-report: to train here: cnn ")
    assert "every training of smoke on this machine: " in result.stdout[estimate:].splitlines()[0]
    assert estimate < result.stdout.index(f"[1/{len(notebooks)}] ")
    for i, nb in enumerate(notebooks, 1):
        assert f"[{i}/{len(notebooks)}] {nb.stem}" in result.stdout
    for name, spec in registry.MODELS.items():  # each training's progress, as plain lines off a terminal
        epochs = profiles.load_profile("smoke")[spec.epochs_key]
        assert f"{spec.notebook}: {name} epoch {epochs}/{epochs}, val accuracy " in result.stdout
        executed = nbformat.read(run_dir / "notebooks" / nb.name, as_version=4)
        errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
        assert not errors
    figures = ("01_class_distribution", "01_sample_faces", "01_mean_face", "01_pixel_histograms",
               "fig1_cnn_training", "fig2_cnn_no_augmentation", "fig3_dnn_training", "fig4_confusion_matrix",
               "fig5_saliency", "06_class_saliency", "fig6_layer2_outputs", "fig7_layer2_filters",
               "07_top_faces_per_filter", "07_filter_correlations", "08_dlsvm_training", "fig8_dlsvm_layer2_outputs", "fig9_recipes")
    for name in figures:
        assert (run_dir / "figures" / f"{name}.png").stat().st_size > 1000
    for name, spec in registry.MODELS.items():
        record = json.loads((run_dir / "models" / name / "results.json").read_text())
        assert record["epochs"] == profiles.load_profile("smoke")[spec.epochs_key]
        assert 0 <= record["test"]["flip_accuracy"] <= 1
        assert set(record["val"]["view_sets"]) == set(spec.views) and record["val"]["views"] in spec.views
        assert record["test"]["views"] == record["val"]["views"] and 0 <= record["test"]["views_accuracy"] <= 1
        with np.load(run_dir / "models" / name / "outputs.npz") as outputs:  # what the ensemble combines
            assert sorted(outputs.files) == ["test", "val"] and all(outputs[s].shape[1] == 7 for s in outputs.files)
    prep = Preprocessor.load(run_dir / "models" / "preprocessing.npz")
    assert prep.mean.shape == (48, 48) and 100 < prep.scale <= 255


def _missing(reason: str):
    """Skip a test that reads the smoke series' output when it is not there; in CI, where make test runs the
    series first on the same worker (xdist_group), fail instead, so that a scheduling fault cannot hide it."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}, though the series runs first on this worker in make test")
    pytest.skip(reason)


@pytest.fixture
def rendered_smoke_run(real_source):
    """The smoke run's folder once its report is rendered (by the test before, on the same worker)."""
    run_dir = paths.RUNS_DIR / "smoke"
    if not (run_dir / "report" / "results.json").exists():
        _missing("the smoke report has not been rendered")
    return run_dir


@pytest.mark.notebooks
@pytest.mark.xdist_group("series-tensorflow")  # after the series, on its worker
def test_smoke_report_renders_and_loads_in_a_browser(real_source):
    """fer-report render turns the smoke run into its report; headless Chromium opens the index and every page:
    each image loads, no page shows a traceback. The screenshot stays with the run."""
    run_dir = paths.RUNS_DIR / "smoke"
    if not (run_dir / "notebooks" / "08_dlsvm.ipynb").exists():
        _missing("the smoke series has not run")
    assert cli.main(["render", "--profile", "smoke"]) == 0
    index = (run_dir / "report" / "index.html").read_text()
    checked = json.loads((run_dir / "report" / "claims.json").read_text())  # the claims open the first page
    assert [r["key"] for r in checked] == [c.key for c in claims.CLAIMS]
    assert index.index('<section id="claims">') < min(index.index("<ol>"), index.index("<section id=\"01_"))
    assert all(html.escape(r["claim"]) in index and r["verdict"] in index for r in checked)
    for nb in series.select_notebooks():
        assert f'id="{nb.stem}"' in index and (run_dir / "report" / "no-input" / f"{nb.stem}.html").exists()
    for n in range(1, 9):
        assert f'src="figures/fig{n}_' in index
    if browser.chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Chromium for the browser check (.ci/run installs Debian's chromium)")
        pytest.skip("no Chromium here")
    for page in (run_dir / "report" / "no-input").glob("*.html"):  # hand-in pages: results, not logs or paths
        text = page.read_text()
        assert "INFO fer_utils" not in text and str(paths.PROJECT_ROOT) not in text, page.name
        assert not browser.unreadable(browser.table_cells(text)), page.name  # percentages, counts, blanks
    for page in (run_dir / "report").rglob("*.html"):  # opened offline, a page waits on nothing
        assert not re.search(r'<script[^>]+src="https?:', page.read_text()), page.name
    pages = browser.check_report(run_dir / "report", run_dir / "report" / "screenshot.png")
    assert len(pages) == 1 + 2 * len(series.select_notebooks())
    assert [p for p in pages if p["broken"] or p["traceback"] or not p["images"]] == []


@pytest.mark.notebooks
@pytest.mark.xdist_group("series-tensorflow")  # after the series, on its worker
def test_the_notebooks_state_the_numbers_of_the_claims_table(real_source):
    """What notebook 04 says of the CNN against the DNN and notebook 02 of the easiest and hardest class is what
    the claims table says: one set of numbers (test, with the views chosen on val)."""
    run_dir = paths.RUNS_DIR / "smoke"
    if not (run_dir / "notebooks" / "05_confusion_matrix.ipynb").exists():
        _missing("the smoke series has not run")
    rows = {r["key"]: r for r in claims.evaluate(findings.Evidence.of_run(run_dir))}

    def printed(stem: str) -> str:
        executed = nbformat.read(run_dir / "notebooks" / f"{stem}.ipynb", as_version=4)
        return "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))

    assert rows["cnn_vs_dnn"]["measured"] in printed("04_dnn") and rows["dnn_fit"]["measured"] in printed("04_dnn")
    stated = re.search(r"with the chosen views: easiest (\w+) \(([\d.]+)%\), hardest (\w+) \(([\d.]+)%\)",
                       printed("02_cnn_training"))
    table = re.search(r"easiest (\w+) ([\d.]+)%.*hardest (\w+) ([\d.]+)%", rows["easiest_hardest"]["measured"])
    assert stated and table and stated.groups() == table.groups()
    assert "fear" in rows["easiest_hardest"]["measured"] and "chosen views" in rows["easiest_hardest"]["measured"]


@pytest.mark.notebooks
@pytest.mark.xdist_group("series-tensorflow")  # after the series, on its worker
def test_publish_copies_only_face_free_results(real_source, rendered_smoke_run, tmp_path):
    """fer-report publish's selection, tried on the smoke run into a scratch project."""
    from fer_utils import publish

    run_dir = rendered_smoke_run
    written = {p.relative_to(tmp_path).as_posix() for p in publish.publish(run_dir, tmp_path)}
    figures = {f"figures/{name}.png" for name in publish.FACE_FREE_FIGURES}
    assert figures <= written and not {w for w in written if w.startswith("figures/")} - figures
    assert {f"reference/histories/{m}.csv" for m in registry.MODELS} <= written
    assert {"reference/claims.json", "reference/findings.json"} <= written
    with np.load(tmp_path / "reference" / "models" / "preprocessing.npz") as npz:
        assert npz["mean"].shape == (48, 48) and npz["mean"].dtype == np.float32 and npz["scale"].shape == ()
    cnn = train.keras.models.load_model(tmp_path / "reference" / "models" / "cnn.keras")
    assert getattr(cnn, "optimizer", None) is None and train.trainable_parameters(cnn) == 1_703_623
    manifest = json.loads((tmp_path / "reference" / "manifest.json").read_text())
    assert manifest["data"]["source"] == real_source.name and len(manifest["data"]["sha256"]) == 64
    stale = [tmp_path / "reference" / kind / f"cnn_gone.{ext}" for kind, ext in
             (("models", "keras"), ("histories", "csv"), ("outputs", "npz"))]  # a training the run no longer holds
    for path in stale:
        path.write_bytes(b"left from an earlier run")
    again = {p.relative_to(tmp_path).as_posix() for p in publish.publish(run_dir, tmp_path)}
    assert not any(path.exists() for path in stale)
    models = {f"reference/models/{name}.keras" for name in registry.MODELS}
    statistics = {"reference/models/preprocessing.npz", "reference/models/tang_preprocessing.npz"}
    assert models | statistics <= written
    assert again == written - models - statistics  # unchanged models and statistics are not rewritten
    second = {p.relative_to(tmp_path).as_posix() for p in publish.publish(run_dir, tmp_path, into="reference/full")}
    assert second == {w.replace("reference/", "reference/full/").replace("figures/", "reference/full/figures/")
                      for w in written}  # a second reference run beside the first, its figures its own
    with pytest.raises(publish.PublishError, match="inside the project"):
        publish.publish(run_dir, tmp_path, into="../elsewhere")


@pytest.mark.notebooks
@pytest.mark.xdist_group("series-tensorflow")  # after the series, on its worker
def test_a_publish_that_fails_part_way_leaves_the_committed_run_as_it_was(real_source, rendered_smoke_run, tmp_path, monkeypatch):
    from fer_utils import publish, reference

    run_dir = rendered_smoke_run
    publish.publish(run_dir, tmp_path)
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    saved = []

    def fails_on_the_third(model, path):
        saved.append(path)
        if len(saved) == 3:
            raise OSError(28, "No space left on device")
        return path

    monkeypatch.setattr(reference, "save_compact", fails_on_the_third)
    monkeypatch.setattr(reference, "same_weights", lambda committed, model: False)  # every model rewritten
    with pytest.raises(OSError, match="No space left"):
        publish.publish(run_dir, tmp_path)
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before and len(saved) == 3  # nothing half-replaced, nothing left aside


@pytest.mark.notebooks
@pytest.mark.xdist_group("series-tensorflow")  # after the series, on its worker
def test_publish_only_replaces_the_named_models_and_the_ensemble(real_source, rendered_smoke_run, tmp_path):
    """fer-report publish --only: the named records, histories and weights replace theirs; the others stay."""
    from fer_utils import publish

    run_dir = rendered_smoke_run
    publish.publish(run_dir, tmp_path)
    committed = tmp_path / "reference" / "results.json"
    before = json.loads(committed.read_text())
    before["models"]["cnn_tuned"]["test"]["accuracy"] = -1.0  # a stale record the update must replace
    before["models"]["dnn"]["test"]["accuracy"] = -2.0  # one it must leave alone
    before.pop("ensemble", None)
    committed.write_text(json.dumps(before))
    written = {p.relative_to(tmp_path).as_posix() for p in publish.publish(run_dir, tmp_path, only=["cnn_tuned", "ensemble"])}
    assert {"reference/results.json", "reference/results.md", "reference/histories/cnn_tuned.csv"} <= written
    assert not {w for w in written if w.startswith("reference/histories/") and "cnn_tuned" not in w}
    after = json.loads(committed.read_text())
    assert list(after["models"]) == list(before["models"])
    assert after["models"]["cnn_tuned"]["test"]["accuracy"] >= 0 and after["models"]["dnn"]["test"]["accuracy"] == -2.0
    assert after["ensemble"]["weights"] and "ensemble of" in (tmp_path / "reference" / "results.md").read_text()
    np.savez(tmp_path / "reference" / "models" / "preprocessing.npz", mean=np.zeros((48, 48), np.float32), scale=1.0)
    with pytest.raises(publish.PublishError, match="differs from the committed"):
        publish.publish(run_dir, tmp_path, only=["cnn_tuned"])
    alone = tmp_path / "dlsvm_alone" / "models"  # as the training CLI leaves a run: one model, its own statistics
    shutil.copytree(run_dir / "models" / "dlsvm_svm", alone / "dlsvm_svm")
    with pytest.raises(publish.PublishError, match="tang_preprocessing.npz is missing"):
        publish.publish(alone.parent, tmp_path, only=["dlsvm_svm"])
    shutil.copy(run_dir / "models" / "tang_preprocessing.npz", alone)
    written = {p.relative_to(tmp_path).as_posix() for p in publish.publish(alone.parent, tmp_path, only=["dlsvm_svm"])}
    assert "reference/histories/dlsvm_svm.csv" in written and "reference/models/preprocessing.npz" not in written


@pytest.mark.parametrize("name", list(registry.MODELS))
def test_committed_models_give_the_stated_test_accuracy(real_source, name):
    """Each committed model of the reference run, loaded with its own preprocessing statistics and evaluated here
    on PrivateTest as the series evaluates it, gives the test accuracy, plain and flip-averaged, that
    reference/results.json states, to 0.1 points; the tuned and the distilled CNN also with the test-time views
    chosen for them on val (up to 18 views a face; the others' would cost as much again), and its outputs are the committed
    ones. The committed outputs of every model, which a run with the reference's settings takes, score the stated
    val and test accuracy with the chosen views."""
    from fer_utils import preprocess
    spec, committed = registry.get(name), paths.RunPaths(paths.PROJECT_ROOT / "reference")
    weights = committed.models / f"{name}.keras"
    if not weights.exists():
        pytest.skip(f"no {name} committed with the reference run")
    fer = data.load_fer2013(real_source)
    if fer.test is None:
        pytest.skip("the data source has no PrivateTest split")
    model = train.keras.models.load_model(weights)
    stats = preprocess.KINDS[spec.preprocessing].load(committed.statistics(spec.preprocessing))
    stated = json.loads((paths.PROJECT_ROOT / "reference" / "results.json").read_text())["models"][name]["test"]
    chosen = [stated["views"]] if name in ("cnn_tuned", "cnn_distilled") else []  # the headline single networks
    measured, outputs = evaluation.evaluate(model, stats.transform(fer.test.images), fer.test.labels, chosen,
                                            spec.scores)
    measured = {**measured, "views_accuracy": measured["view_sets"].get(stated["views"])}
    for key in ("accuracy", "flip_accuracy") + (("views_accuracy",) if chosen else ()):
        assert abs(measured[key] - stated[key]) <= 0.001, key
    with np.load(committed.root / "outputs" / f"{name}.npz") as saved:  # what a run with these settings takes
        assert np.mean(saved["test"].argmax(1) == fer.test.labels) == pytest.approx(stated["views_accuracy"])
        val = json.loads((paths.PROJECT_ROOT / "reference" / "results.json").read_text())["models"][name]["val"]
        assert np.mean(saved["val"].argmax(1) == fer.val.labels) == pytest.approx(val["views_accuracy"])
        if chosen:  # bfloat16 compute rounds differently on CPUs that have it natively and on those that emulate it
            bfloat16 = any("bfloat16" in str(layer.dtype_policy) for layer in model.layers)
            np.testing.assert_allclose(outputs[stated["views"]], saved["test"], atol=1e-2 if bfloat16 else 2e-3)
            assert np.mean(outputs[stated["views"]].argmax(1) == saved["test"].argmax(1)) >= 0.995


def test_committed_ensemble_is_consistent_and_stated():
    """The reference run's ensemble: weights over its own members summing to 1, and its test accuracy in the
    committed results table (which the README shows)."""
    committed = json.loads((paths.PROJECT_ROOT / "reference" / "results.json").read_text())
    if "ensemble" not in committed:
        pytest.skip("no ensemble in the reference run")
    record = committed["ensemble"]
    trainings = {*committed["models"], *(f"{name}-seed{seed}" for name, by_seed in committed.get("seeds", {}).items()
                                         for seed in by_seed)}
    assert set(record["members"]) <= trainings and set(record["weights"]) == set(record["members"])
    assert not any(registry.trained(m)[0].student for m in record["members"])  # a student learns from it
    assert abs(sum(record["weights"].values()) - 1) < 1e-9
    assert f"| {record['test']:.1%} (" in (paths.PROJECT_ROOT / "reference" / "results.md").read_text()  # + interval


@pytest.mark.notebooks
@pytest.mark.parametrize("notebook", ["05", "06", "07", "08"])
def test_interpretation_notebooks_name_the_notebook_to_run_first(real_source, tmp_path, notebook, capsys):
    """In a run folder without a trained CNN, notebooks 05-08 stop with one message naming notebook 02, and no
    traceback of the package."""
    assert cli.main(["run", "--profile", "smoke", "--only", notebook, "--run-dir", str(tmp_path),
                        "--data", str(real_source)]) == 1
    err = capsys.readouterr().err
    ours = [line for line in err.splitlines() if line.startswith("fer-report")]
    assert len(ours) == 1 and "run notebook 02_cnn_training first" in ours[0], err[-2000:]
    assert "fer_utils" not in "".join(l for l in err.splitlines() if l.lstrip().startswith("File "))


@pytest.mark.notebooks
def test_the_quick_profile_starts_from_the_reference_runs_trainings(real_source, tmp_path, capsys):
    """With the reference run's data and settings, `fer-report run` says before the first notebook which trainings
    it takes from the committed run; notebook 02 then loads the CNN instead of training it and takes its
    evaluation, and the rendered report names the CNN as the reference run's."""
    if data.sha256(real_source) not in reference.data_hashes():
        pytest.skip("the data is not the reference run's")
    code = cli.main(["run", "--profile", "quick", "--only", "02", "--run-dir", str(tmp_path),
                        "--data", str(real_source)])
    out, err = capsys.readouterr()
    assert code == 0, err[-3000:]
    lines = out.splitlines()
    taken = next(i for i, line in enumerate(lines) if "trainings are the reference run's" in line)
    assert taken < next(i for i, line in enumerate(lines) if line.startswith("[1/1] 02_cnn_training"))
    assert " cnn" in lines[taken] and "--retrain trains them here" in lines[taken]
    assert "nothing to train" in out and "epoch 1/50" not in out
    assert taken < next(i for i, line in enumerate(lines) if line.startswith("fer-report: this series should take "))
    folder = tmp_path / "models" / "cnn"
    assert reference.adopted(folder) is not None and not list(folder.glob("checkpoint-*"))
    record = json.loads((folder / "results.json").read_text())
    stated = json.loads((paths.PROJECT_ROOT / "reference" / "results.json").read_text())["models"]["cnn"]
    assert record["evaluated_in"] == "reference" and record["test"] == stated["test"]  # the evaluation is taken too
    with np.load(folder / "outputs.npz") as taken, np.load(paths.PROJECT_ROOT / "reference" / "outputs" / "cnn.npz") as ref:
        assert all(np.array_equal(taken[s], ref[s]) for s in ("val", "test"))
    manifest = json.loads((tmp_path / series.MANIFEST).read_text())
    assert "cnn" in manifest["reference"]
    from fer_utils import render

    index = render.render(tmp_path, progress=lambda *a, **k: None).read_text()
    assert 'id="provenance"' in index and "CNN, augmentation" in index.split('id="provenance"')[1].split("</p>")[0]
