"""The HTML report: pages and index from executed notebooks, results.json from the run's evaluations, a
failed render leaving the previous report whole, and the browser check that CI relies on."""

from __future__ import annotations

import base64
import json
import os

import nbformat
import pytest

from fer_utils import render, results
from tests import browser

CNN = {"model": "cnn", "label": "CNN, augmentation", "trainable_parameters": 1703623, "epochs": 3, "best_epoch": 2,
       "training_seconds": 90.0, "val": {"accuracy": 0.5, "views": "mirror x 5 shifts", "views_accuracy": 0.52},
       "test": {"accuracy": 0.4, "flip_accuracy": 0.45, "views": "mirror x 5 shifts", "views_accuracy": 0.47}}
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def fake_run(root, *, error: bool = False):
    """A run folder with two executed notebooks, a figure per part and one model's evaluation."""
    (root / "notebooks").mkdir(parents=True)
    for stem, title in (("01_preprocessing", "01 · Image preprocess"), ("02_cnn_training", "02 · P1: the CNN")):
        nb = nbformat.v4.new_notebook()
        code = nbformat.v4.new_code_cell("1 / 0" if error else "print('ok')")
        code.outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                               traceback=["Traceback (most recent call last)", "ZeroDivisionError"])
                        if error else nbformat.v4.new_output("stream", name="stdout", text="ok\n")]
        nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nSome `narrative`."), code]
        nbformat.write(nb, root / "notebooks" / f"{stem}.ipynb")
    (root / "figures").mkdir()
    for name in ("01_class_distribution", "fig1_cnn_training", "fig4_confusion_matrix"):
        (root / "figures" / f"{name}.png").write_bytes(PNG)
    (root / "models" / "cnn").mkdir(parents=True)
    results.write(root / "models" / "cnn", CNN)
    (root / "manifest.json").write_text(json.dumps(
        {"profile": "quick", "parameters": {"seed": 42}, "data": {"source": "/d/fer2013.csv", "sha256": "ab" * 32},
         "versions": {"python": "3.11"}, "keras_backend": "jax", "devices": ["CPU:0"], "git_commit": "abc",
         "started": "2026-11-30 01:00:00", "notebooks": {"01_preprocessing": {"seconds": 4.0, "finished": "x"}}}))
    return root


def test_render_writes_pages_index_and_results(tmp_path):
    run = fake_run(tmp_path / "run")
    index = render.render(run, progress=lambda *a, **k: None)
    report = run / "report"
    assert index == report / "index.html"
    for stem in ("01_preprocessing", "02_cnn_training"):
        assert "print" in (report / f"{stem}.html").read_text()
        assert "print(" not in (report / "no-input" / f"{stem}.html").read_text()  # hand-in: outputs only
    text = index.read_text()
    assert text.index('id="01_preprocessing"') < text.index('id="02_cnn_training"') < text.index('id="results"')
    assert 'src="figures/fig1_cnn_training.png"' in text and "<code>narrative</code>" in text
    assert "Tang 2013" in text and "71.2%" in text and "40.0%" in text and "jax" in text
    run_results = json.loads((report / "results.json").read_text())
    assert run_results["profile"] == "quick" and run_results["data_sha256"] == "ab" * 32
    assert run_results["models"] == {"cnn": CNN}  # the training's own record, unchanged


def test_results_as_markdown_for_the_readme(tmp_path):
    run = fake_run(tmp_path / "run")
    render.render(run, progress=lambda *a, **k: None)
    models = json.loads((run / "report" / "results.json").read_text())["models"]
    lines = results.markdown(results.table(models, anchors=True)).splitlines()
    assert lines[0].startswith("| model | trainable parameters | epochs | best epoch | best val accuracy | test accuracy |")
    assert lines[2] == ("| CNN, augmentation | 1,703,623 | 3 | 2 | 50.0% | 40.0% | 45.0% | mirror x 5 shifts | 47.0% | 2 "
                        "| val (PublicTest) |")
    assert "| DLSVM, Tang 2013 (challenge winner) |  |  |  |  | 71.2% |" in lines[3]


def test_figures_go_to_their_part():
    figures = [render.Path(f"{n}.png") for n in ("fig6_layer2_outputs", "fig7_layer2_filters", "07_top_faces_per_filter",
                                                 "fig1_cnn_training")]
    assert render._figures_of("07_filters", figures) == ["fig6_layer2_outputs.png", "fig7_layer2_filters.png",
                                                         "07_top_faces_per_filter.png"]


def test_a_failed_render_keeps_the_previous_report(tmp_path, monkeypatch):
    run = fake_run(tmp_path / "run")
    render.render(run, progress=lambda *a, **k: None)
    before = (run / "report" / "index.html").read_text()
    monkeypatch.setattr(render, "_index", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        render.render(run, progress=lambda *a, **k: None)
    assert (run / "report" / "index.html").read_text() == before
    with pytest.raises(render.RenderError, match="empty is not a run folder: run `fer-report run` first"):
        render.render(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    with pytest.raises(render.RenderError, match="no executed notebooks"):
        render.render(tmp_path / "empty")


def test_browser_check_sees_missing_images_and_tracebacks(tmp_path):
    if browser.chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Chromium for the browser check (.ci/run installs Debian's chromium)")
        pytest.skip("no Chromium here")
    run = fake_run(tmp_path / "run", error=True)
    render.render(run, progress=lambda *a, **k: None)
    (run / "report" / "figures" / "fig1_cnn_training.png").unlink()
    results = {r["page"]: r for r in browser.check_report(run / "report", tmp_path / "shot.png")}
    assert results["index.html"]["images"] == 2 and len(results["index.html"]["broken"]) == 1
    assert results["01_preprocessing.html"]["traceback"] and not results["index.html"]["traceback"]
    assert (tmp_path / "shot.png").stat().st_size > 1000


def test_an_unfinished_notebook_stops_the_render_unless_partial_and_is_marked(tmp_path, capsys):
    """A series killed during notebook 02 leaves papermill's record: cells still pending. render refuses, naming the
    notebook and how to finish it; --partial renders, and the index and the notebook's pages say it is incomplete."""
    from fer_utils import cli

    run = fake_run(tmp_path / "run")
    path = run / "notebooks" / "02_cnn_training.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("print('never ran')"))
    nb.metadata["papermill"] = {"exception": None}
    for cell, status in zip(nb.cells, ["completed", "completed", "pending"]):
        cell.metadata["papermill"] = {"status": status}
    nbformat.write(nb, path)
    assert render.unfinished(path) == "stopped before cell 3"
    assert render.unfinished(run / "notebooks" / "01_preprocessing.ipynb") is None
    assert cli.main(["render", "--run-dir", str(run)]) == 1
    err = capsys.readouterr().err
    assert err == ("fer-report: 02_cnn_training stopped before cell 3: finish with `fer-report run --only 02` (same "
                   "profile and run folder), or render what there is with --partial\n")
    assert not (run / "report").exists()
    assert cli.main(["render", "--run-dir", str(run), "--partial"]) == 0
    index = (run / "report" / "index.html").read_text()
    assert "This run is incomplete</b>: 02_cnn_training did not finish" in index and index.count("(incomplete)") == 1
    for page in (run / "report" / "02_cnn_training.html", run / "report" / "no-input" / "02_cnn_training.html"):
        assert "Incomplete: this notebook stopped before cell 3" in page.read_text()
    assert "Incomplete" not in (run / "report" / "01_preprocessing.html").read_text()
    failed = nbformat.read(path, as_version=4)
    failed.cells[1].metadata["papermill"]["status"] = "failed"
    nbformat.write(failed, path)
    assert render.unfinished(path) == "failed in cell 2"
