"""The package's shape: no import cycle among its modules, a training CLI free of plotting and notebook
packages, and a model registry where one entry is all a new model needs to be trained, tabled and rendered."""

from __future__ import annotations

import ast
import re
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

import fer_utils
from tests import fer_files as ff

PACKAGE = Path(fer_utils.__file__).parent


def package_imports() -> dict[str, set[str]]:
    """Each fer_utils module -> the fer_utils modules it imports anywhere in its source (functions included)."""
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    graph = {}
    for name in modules:
        found = set()
        for node in ast.walk(ast.parse((PACKAGE / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found |= {node.module} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fer_utils."):
                found.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("fer_utils.")}
        graph[name] = {m.split(".")[0] for m in found} & modules
    return graph


def test_no_import_cycle_among_the_modules():
    graph = package_imports()
    assert graph["cli"] and graph["train"]  # the walk sees imports at all
    done, path = set(), []

    def visit(module):
        if module in path:
            pytest.fail("import cycle: " + " -> ".join(path[path.index(module):] + [module]))
        if module in done:
            return
        path.append(module)
        for imported in sorted(graph[module]):
            visit(imported)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    assert not graph["runtime"] & {"plots", "session", "cli", "render", "publish"}


def reachable(graph: dict[str, set[str]], module: str) -> set[str]:
    """Every module `module` imports, directly or through others."""
    seen, todo = set(), [module]
    while todo:
        for imported in graph[todo.pop()] - seen:
            seen.add(imported)
            todo.append(imported)
    return seen


def test_rendering_never_imports_training_and_publishing_is_apart():
    """The HTML report is built from a run's files: render reaches neither the training engine nor the notebooks'
    run object nor publishing, even inside its functions; publish (which loads the models to write them compactly)
    is a module of its own, and the curve analysis lives with the other result analysis, not in the engine."""
    import fer_utils.results
    import fer_utils.train

    graph = package_imports()
    assert not reachable(graph, "render") & {"train", "session", "publish"}
    assert "train" in reachable(graph, "publish") and "publish" in graph["cli"]
    curves = {"overfitting_onset", "best_so_far", "loss_crossing"}
    assert curves <= set(vars(fer_utils.results)) and not curves & set(vars(fer_utils.train))


def test_the_cycle_check_finds_a_cycle(monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "package_imports", lambda: {"cli": {"train"}, "train": {"cli"}})
    with pytest.raises(pytest.fail.Exception, match="import cycle: cli -> train -> cli"):
        test_no_import_cycle_among_the_modules()


CLI_IMPORTS = """
import builtins, json, sys
watched = ("matplotlib", "seaborn", "papermill", "nbconvert")
importers, real = set(), builtins.__import__
def spy(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and name.split(".")[0] in watched:
        importers.add(((globals or {}).get("__name__", "?"), name.split(".")[0]))
    return real(name, globals, locals, fromlist, level)
builtins.__import__ = spy
from fer_utils import train
try:
    train.main(["--help"])
except SystemExit:
    pass
print(json.dumps({"importers": sorted(importers), "loaded": [m for m in watched if m in sys.modules]}))
"""


def test_every_module_imports_alone_and_the_training_cli_needs_no_plotting():
    """Each module in a fresh interpreter; the training CLI's module and its argument parser import neither
    matplotlib, seaborn, papermill nor nbconvert. (Keras 3 itself imports matplotlib.pyplot when it is installed,
    in keras.src.visualization, so for matplotlib the check is that no fer_utils module is among its importers.)"""
    modules = sorted(package_imports())
    code = ("import importlib, sys\n"
            f"for m in {modules!r}:\n"
            "    importlib.import_module('fer_utils.' + m)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    out = subprocess.run([sys.executable, "-c", CLI_IMPORTS], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert [i for i in seen["importers"] if i[0].startswith("fer_utils")] == []
    assert set(seen["loaded"]) <= {"matplotlib"}
    assert any(module.startswith("keras.") for module, _ in seen["importers"]) or not seen["loaded"]


def tiny_net(seed=None):
    """A new model for the registry test: small, compiled, seven softmax outputs."""
    from fer_utils.models import keras

    inputs = keras.Input((48, 48, 1))
    x = keras.layers.AveragePooling2D(8)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(x)
    outputs = keras.layers.Dense(7, activation="softmax", name="emotion")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs, name="tiny")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_one_registry_entry_is_all_a_new_model_needs(tmp_path, monkeypatch):
    """Registered in one line, a model is trained by the CLI, evaluated (with the view sets its entry allows,
    one chosen on val), tabled and rendered, with no other edit."""
    from fer_utils import evaluation, registry, render, results, train

    monkeypatch.setenv("FER2013_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(registry, "MODELS", dict(registry.MODELS))  # the entry goes when the test ends
    registry.register(registry.ModelSpec("tiny", "Tiny test network", tiny_net, "epochs_dnn", "02_cnn_training",
                                         views=("plain", "mirror x 5 crops")))
    source = ff.write_fer2013_csv(tmp_path / "fer2013.csv", *ff.make_faces(per_usage_class=4))
    run = tmp_path / "run"
    assert train.main(["tiny", "--profile", "smoke", "--data", str(source), "--run-dir", str(run),
                       "--epochs", "2"]) == 0

    record = json.loads((run / "models" / "tiny" / "results.json").read_text())
    assert record["label"] == "Tiny test network" and record["epochs"] == 2
    assert set(record["val"]["view_sets"]) == {"plain", "mirror x 5 crops"}
    assert record["test"]["views"] == record["val"]["views"] == evaluation.choose_views(record["val"])
    assert record["trainable_parameters"] == 4 * 9 + 4 + 36 * 4 * 7 + 7
    table = results.table(results.collect(run))
    assert list(table.index) == ["Tiny test network"] and 0 <= table.iloc[0]["test accuracy, chosen views"] <= 1

    (run / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 02 · tiny\n\nA test part.")]
    nbformat.write(nb, run / "notebooks" / "02_cnn_training.ipynb")
    index = render.render(run, progress=lambda *a, **k: None).read_text()
    assert "Tiny test network" in index and f"{record['test']['accuracy']:.1%}" in index
    assert "tiny" in json.loads((run / "report" / "results.json").read_text())["models"]
    assert np.isfinite(train.load_history(run, "tiny")["loss"]).all()


def test_the_committed_reference_run_names_no_path_of_a_machine():
    """reference/ is published: the data is named by file name and SHA-256, never by where it lay."""
    root = PACKAGE.parent / "reference"
    absolute = re.compile(r"""(^|[\s"'(=])(/[\w.~-]+){2,}|[A-Za-z]:\\\\""")

    def strings(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)
        elif isinstance(value, str):
            yield value

    files = [p for p in root.rglob("*") if p.suffix in (".json", ".md", ".csv")]
    assert any(p.name == "manifest.json" for p in files)
    for path in files:
        text = path.read_text()
        values = strings(json.loads(text)) if path.suffix == ".json" else [text]
        assert not [v for v in values if absolute.search(v)], path
