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


def module_files() -> dict[str, Path]:
    """Each fer_utils module by its dotted name inside the package ("train", "data", "data.forms") -> its file."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if parts:
            found[".".join(parts)] = path
    return found


def package_imports() -> dict[str, set[str]]:
    """Each fer_utils module -> the fer_utils modules it imports anywhere in its source (functions included)."""
    files = module_files()
    graph = {}
    for name, path in files.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found = set()
        tree = ast.parse(path.read_text())
        for node in tree.body[:]:  # a module's `if __name__ == "__main__":` block is its entry point, not a dependency
            if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
                tree.body.remove(node)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[:len(package) - node.level + 1]
                target = [*base, *node.module.split(".")] if node.module else base
                found.add(".".join(target))
                found |= {".".join([*target, a.name]) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fer_utils."):
                found.add(node.module.removeprefix("fer_utils."))
                found |= {f"{node.module.removeprefix('fer_utils.')}.{a.name}" for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module == "fer_utils":
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name.removeprefix("fer_utils.") for a in node.names if a.name.startswith("fer_utils.")}
        graph[name] = (found & set(files)) - {name}
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
    """Every module that importing `module` loads: what it imports, directly or through others, and the packages
    that hold them."""
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        parents = {".".join(current.split(".")[:i]) for i in range(1, current.count(".") + 1)}
        for imported in (graph[current] | parents) - seen:
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
    assert "loading" in reachable(graph, "publish") and "publish" in reachable(graph, "cli")
    curves = {"overfitting_onset", "best_so_far", "loss_crossing"}
    assert curves <= set(vars(fer_utils.results)) and not curves & set(vars(fer_utils.train))


def test_reading_code_never_imports_the_training_engine():
    """Predicting, publishing, rendering and the notebooks' run object (but where it trains) load trained models
    through `loading`, never through the training engine, even inside their functions."""
    graph = package_imports()
    assert "data.forms" in graph["data"] and "labels" in graph["data.forms"]  # the walk sees the package's modules
    for module in ("predict", "publish", "render", "loading"):
        assert "train" not in reachable(graph, module), module
    # the notebooks' run object trains in Run.train and Run.seeds alone; everything else of it only reads
    tree = ast.parse((PACKAGE / "session.py").read_text())
    training = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name in ("train", "seeds")
                for n in ast.walk(f)}
    reading = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level
               and id(node) not in training} - {None}
    assert "train" in graph["session"] and "loading" in reading
    assert not {"train"} & set().union(*(reachable(graph, m) | {m} for m in reading if m in graph))


def test_the_photo_reader_imports_nothing_heavy():
    """Importing the photo reader loads neither scikit-learn, pyarrow (pandas loads it), papermill, the data
    layer nor the training engine: a user who reads photos waits for none of them."""
    code = ("import sys, json, fer_utils.predict\n"
            "print(json.dumps([m for m in ('sklearn', 'pyarrow', 'pandas', 'papermill', 'fer_utils.train', "
            "'fer_utils.data') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_no_module_is_over_450_lines_and_the_labels_import_nothing():
    lines = {name: len(path.read_text().splitlines()) for name, path in module_files().items()}
    assert {name: n for name, n in lines.items() if n > 450} == {} and lines["train"] > 100
    labels = ast.parse((PACKAGE / "labels.py").read_text())
    assert not [n for n in ast.walk(labels) if isinstance(n, (ast.Import, ast.ImportFrom))]


def layers() -> list[set[str]]:
    """The layers of docs/architecture.md's table, from the top (front ends) down: each a set of module names."""
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    rows = [line.split("|") for line in text.splitlines() if line.startswith("| ") and not line.startswith("| layer")]
    return [{m.strip() for m in row[2].split(",")} for row in rows]


def test_every_module_imports_only_from_its_layer_and_those_below():
    """The picture of the layers in docs/architecture.md is the package's: every module is in one layer, and no
    import (inside functions too) goes to a layer above."""
    stack, graph = layers(), package_imports()
    assert len(stack) == 6 and sorted(set().union(*stack)) == sorted(graph) and sum(map(len, stack)) == len(graph)
    level = {module: i for i, layer in enumerate(stack) for module in layer}
    upward = sorted(f"{m} -> {i}" for m, imported in graph.items() for i in imported if level[i] < level[m])
    assert upward == []


def test_the_layer_check_finds_an_upward_import(monkeypatch):
    graph = package_imports()
    graph["labels"] = {"cli"}
    monkeypatch.setattr(sys.modules[__name__], "package_imports", lambda: graph)
    with pytest.raises(AssertionError, match="labels -> cli"):
        test_every_module_imports_only_from_its_layer_and_those_below()


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
from fer_utils import cli, train
try:
    cli.train_main(["--help"])
except SystemExit:
    pass
print(json.dumps({"importers": sorted(importers), "loaded": [m for m in watched if m in sys.modules]}))
"""


def test_every_module_imports_alone_and_the_training_cli_needs_no_plotting():
    """Each module in a fresh interpreter; the training CLI's module and its argument parser import neither
    matplotlib, seaborn, papermill nor nbconvert. (Keras 3 itself imports matplotlib.pyplot when it is installed,
    in keras.src.visualization, so for matplotlib the check is that no fer_utils module is among its importers.)"""
    modules = sorted(module_files())
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
    from fer_utils import cli, evaluation, loading, registry, render, results

    monkeypatch.setenv("FER2013_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(registry, "MODELS", dict(registry.MODELS))  # the entry goes when the test ends
    registry.register(registry.ModelSpec("tiny", "Tiny test network", tiny_net, "epochs_dnn", "02_cnn_training",
                                         views=("plain", "mirror x 5 crops")))
    source = ff.write_fer2013_csv(tmp_path / "fer2013.csv", *ff.make_faces(per_usage_class=4))
    run = tmp_path / "run"
    assert cli.train_main(["tiny", "--profile", "smoke", "--data", str(source), "--run-dir", str(run),
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
    assert np.isfinite(loading.load_history(run, "tiny")["loss"]).all()


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
