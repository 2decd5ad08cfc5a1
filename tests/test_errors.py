"""One line for every ordinary mistake, from `fer-report run`, `render`, `predict` and the training CLI: a path that
is a file where a folder belongs (or under one), a read-only place, an empty option value, too little data to
split; a traceback only for a bug, with a line saying so."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

from fer_utils import cli, faces, train, views
from tests import fer_files as ff
from tests.messages import one_line
from tests.test_cli import tiny_series


@pytest.fixture
def source(tmp_path, monkeypatch):
    monkeypatch.setenv("FER2013_CACHE", str(tmp_path / "cache"))
    return ff.write_fer2013_csv(tmp_path / "fer2013.csv", *ff.make_faces(per_usage_class=2))


def test_a_folder_option_naming_a_file_or_a_path_under_a_file(tmp_path, source, capsys, monkeypatch):
    taken = tmp_path / "taken"
    taken.write_text("a file")
    photo = str(faces.sample_photo())
    assert cli.main(["predict", photo, "--out", str(taken), "--detector", "haar"]) == 1
    one_line(capsys.readouterr().err, "fer-report predict", f"--out {taken}", "is a file")
    assert cli.main(["predict", photo, "--out", str(taken / "out"), "--detector", "haar"]) == 1
    one_line(capsys.readouterr().err, "fer-report predict", str(taken / "out"), "under a file")
    assert cli.train_main(["dnn", "--profile", "smoke", "--data", str(source), "--run-dir", str(taken / "run")]) == 1
    last = capsys.readouterr().err.splitlines()[-1]  # after the data's log line
    one_line(last, "fer_utils.train", str(taken / "run" / "models"), "under a file")
    tiny_series(tmp_path, monkeypatch, {"01_ok": ["x = 1"]})
    assert cli.main(["run", "--profile", "tiny", "--run-dir", str(taken)]) == 1
    one_line(capsys.readouterr().err, "fer-report", str(taken), "is a file")
    for command in ("render", "publish"):
        assert cli.main([command, "--run-dir", str(taken)]) == 1
        one_line(capsys.readouterr().err, "fer-report", str(taken), "is a file")
    assert taken.read_text() == "a file"


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    """Everything under tmp_path/ro is on a read-only file system, as the operating system says it."""
    place, mkdir = tmp_path / "ro", Path.mkdir

    def refused(self, *args, **kwargs):
        if self == place or place in self.parents:
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refused)
    return place


def test_a_read_only_place_is_one_line_for_each_command(read_only, source, tmp_path, capsys, monkeypatch):
    said = "is on a read-only file system: choose a writable place"
    assert cli.main(["predict", str(faces.sample_photo()), "--out", str(read_only / "out"), "--detector", "haar"]) == 1
    one_line(capsys.readouterr().err, "fer-report predict", str(read_only / "out"), said)
    assert cli.train_main(["dnn", "--profile", "smoke", "--data", str(source), "--run-dir", str(read_only / "run")]) == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith(f"fer_utils.train: {read_only / 'run'}")
    tiny_series(tmp_path, monkeypatch, {"01_ok": ["x = 1"]})
    assert cli.main(["run", "--profile", "tiny", "--run-dir", str(read_only / "run")]) == 1
    one_line(capsys.readouterr().err, "fer-report", str(read_only / "run"), said)


@pytest.mark.parametrize("argv, option", [(["run", "--run-dir", ""], "--run-dir"), (["run", "--profile", " "], "--profile"),
                                          (["predict", "x.png", "--out", ""], "--out"),
                                          (["render", "--run-dir", ""], "--run-dir")])
def test_an_empty_option_value_is_refused_not_taken_for_the_default(argv, option, capsys):
    assert cli.main(argv) == 1
    one_line(capsys.readouterr().err, f"fer-report {argv[0]}", f"{option} is empty")


def test_the_training_cli_refuses_empty_values_and_too_little_data(tmp_path, capsys, monkeypatch):
    assert cli.train_main(["dnn", "--data", ""]) == 1
    one_line(capsys.readouterr().err, "fer_utils.train", "--data is empty")
    monkeypatch.setenv("FER2013_CACHE", str(tmp_path / "cache"))
    one = ff.write_tree(tmp_path / "one", ff.tree_members(np.zeros((1, 48, 48), np.uint8), [3], ["Training"]))
    assert cli.train_main(["dnn", "--profile", "smoke", "--data", str(one), "--run-dir", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("fer_utils.train: ") and "1 Training face and no PublicTest faces: too few to carve" \
        in err[-1]


def test_a_bug_shows_its_traceback_and_says_it_is_one(monkeypatch, capsys):
    def broken(args):
        raise KeyError("internal")

    monkeypatch.setattr(cli, "_command", broken)
    assert cli.main(["render", "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "KeyError: 'internal'" in err
    assert err.splitlines()[-1].startswith("fer-report: this is a bug")


def test_a_damaged_history_in_a_run_is_one_line_naming_it(tmp_path, source, capsys):
    """A run whose training history was damaged (cut mid-line, or another file's text): the series names the file in
    one line before any notebook, and the training CLI too; no traceback."""
    run = tmp_path / "run"
    assert cli.train_main(["dnn", "--profile", "smoke", "--data", str(source), "--run-dir", str(run), "--epochs", "1"]) == 0
    capsys.readouterr()
    history = run / "models" / "dnn" / "history.csv"
    history.write_text("epoch,loss\n1,0.5,0.3\n")
    assert cli.train_main(["dnn", "--profile", "smoke", "--data", str(source), "--run-dir", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith(f"fer_utils.train: {history}: not a") and "Traceback" not in err
    assert cli.main(["run", "--profile", "smoke", "--only", "04", "--run-dir", str(run), "--data", str(source)]) == 1
    err = capsys.readouterr().err
    ours = [line for line in err.splitlines() if line.startswith("fer-report")]
    assert len(ours) == 1 and f"{history}: not a" in ours[0] and "Traceback" not in err


@pytest.mark.parametrize("where", ["classifier.view_outputs", "results.record", "progress.describe"])
def test_a_bug_in_a_commands_path_shows_its_traceback(tmp_path, source, capsys, monkeypatch, where):
    """An error that is not the project's own (a planted ValueError, KeyError or TypeError somewhere a command
    passes) is a bug: its traceback and a line saying so, exit 2, never one line dressed as the user's mistake."""
    import importlib

    module, name = where.split(".")
    kind = {"classifier": ValueError, "results": KeyError, "progress": TypeError}[module]

    def planted(*args, **kwargs):
        raise kind("planted")

    monkeypatch.setattr(importlib.import_module(f"fer_utils.{module}"), name, planted)
    if module == "classifier":  # predict's path
        assert cli.main(["predict", str(faces.sample_photo()), "--out", str(tmp_path / "out"), "--detector",
                         "haar"]) == 2
    elif module == "results":  # the training CLI's path
        assert cli.train_main(["dnn", "--profile", "smoke", "--data", str(source), "--run-dir", str(tmp_path / "run"),
                           "--epochs", "1"]) == 2
    else:  # the series runner's path, while a notebook trains
        cell = ("import json, pathlib, time\n"
                "folder = pathlib.Path(run_dir, 'models', 'm')\n"
                "folder.mkdir(parents=True)\n"
                "(folder / 'progress.json').write_text(json.dumps({'model': 'm', 'epoch': 1, 'updated': time.time()}))")
        tiny_series(tmp_path, monkeypatch, {"01_trains": [cell]})
        assert cli.main(["run", "--profile", "tiny", "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "planted" in err and "this is a bug" in err
