"""The series runner and the notebook contract: profiles, selection, parameters cells, failures."""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import sys
from pathlib import Path

import nbformat
import pytest

from fer_utils import cli, paths, profiles, runtime, series, settings
from fer_utils.profiles import ProfileError
from fer_utils.series import SeriesError
from tests.messages import one_line


def test_profiles_exist_with_the_same_keys():
    keys = {name: set(profiles.load_profile(name)) for name in ("smoke", "quick", "full")}
    assert keys["smoke"] == keys["quick"] == keys["full"]


def test_every_profile_key_is_a_notebook_parameter_or_a_compute_setting():
    """A notebook's parameters cell shows what a reader of it would change; the compute settings are declared once
    (fer_utils.settings) and no notebook repeats them."""
    declared = set().union(*(series.notebook_parameters(nb) for nb in series.select_notebooks()))
    profile = set(profiles.load_profile("smoke"))
    assert {k for k in profile if not settings.is_setting(k)} <= declared
    assert set(profiles.RUNNER_PARAMETERS) <= declared
    assert not {k for k in declared if settings.is_setting(k)}
    assert set(settings.COMPUTE) <= profile  # every profile states them (full differs from quick in some)


@pytest.mark.parametrize("notebook", series.select_notebooks(), ids=lambda p: p.stem)
def test_notebook_defaults_are_the_quick_profile(notebook):
    """Opened in JupyterLab, a notebook behaves as the quick profile: every profile key its parameters cell
    declares has the quick profile's value, and it names the quick run folder."""
    params = nbformat.read(notebook, as_version=4).cells[1]
    defaults = {s.targets[0].id: ast.literal_eval(s.value) for s in ast.parse(params.source).body}
    quick = profiles.load_profile("quick")
    assert {k: v for k, v in defaults.items() if k in quick} == {k: quick[k] for k in defaults if k in quick}
    assert defaults["profile"] == "quick" and defaults["run_dir"] == "../runs/quick"


def test_unknown_or_broken_profiles(tmp_path, monkeypatch):
    with pytest.raises(ProfileError, match="unknown profile 'huge'.*smoke"):
        profiles.load_profile("huge")
    monkeypatch.setattr(paths, "PARAMS_DIR", tmp_path)
    (tmp_path / "bad.yaml").write_text("seed: [1,\n")
    with pytest.raises(ProfileError, match="bad.yaml: not valid YAML"):
        profiles.load_profile("bad")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ProfileError, match="expected a mapping"):
        profiles.load_profile("list")
    (tmp_path / "clash.yaml").write_text("run_dir: /tmp\n")
    with pytest.raises(ProfileError, match="run_dir is set by fer-report"):
        profiles.load_profile("clash")


def test_only_selects_notebooks_by_number():
    assert [nb.name for nb in series.select_notebooks("01")] == ["01_preprocessing.ipynb"]
    assert series.select_notebooks("1") == series.select_notebooks("01")
    with pytest.raises(SeriesError, match="no notebook numbered 42"):
        series.select_notebooks("01,42")


@pytest.mark.parametrize("notebook", series.select_notebooks(), ids=lambda p: p.stem)
def test_notebook_contract(notebook):
    """Title cell first, then a parameters cell of literals only, then set-up; committed without outputs."""
    nb = nbformat.read(notebook, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    params = nb.cells[1]
    assert params.cell_type == "code" and "parameters" in params.metadata.get("tags", [])
    for statement in ast.parse(params.source).body:
        assert isinstance(statement, ast.Assign), f"{notebook.name}: parameters cell holds only assignments"
        ast.literal_eval(statement.value)  # raises for anything but a literal
    assert "setup_run(" in nb.cells[2].source
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    assert nb.metadata.kernelspec.name == "python3"


def write_notebook(path: Path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# test")]
    nb.cells.append(nbformat.v4.new_code_cell('run_dir = "."\nprofile = "x"', metadata={"tags": ["parameters"]}))
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def tiny_series(tmp_path, monkeypatch, notebooks: dict[str, list[str]]) -> Path:
    """A series of the given notebooks (name: cell sources) under a profile "tiny" and a stand-in data file;
    returns that file."""
    folder, params = tmp_path / "notebooks", tmp_path / "params"
    folder.mkdir()
    params.mkdir()
    (params / "tiny.yaml").write_text((paths.PARAMS_DIR / "smoke.yaml").read_text())  # a valid profile
    for name, sources in notebooks.items():
        write_notebook(folder / f"{name}.ipynb", *sources)
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", folder)
    monkeypatch.setattr(paths, "PARAMS_DIR", params)
    source = tmp_path / "fer2013.csv"
    source.write_text("emotion,pixels,Usage\n")
    monkeypatch.setattr(profiles, "resolve_data", lambda data: str(source))
    return source


def test_tensorflows_own_stdout_handler_gives_way_to_the_log_on_stderr(capsys):
    """In a notebook TensorFlow's logger prints warnings to stdout with a handler of its own (retracing warnings
    among a cell's results, which nbval then compares); after setup_logging they are log lines on stderr."""
    tensorflow = logging.getLogger("tensorflow")
    tensorflow.addHandler(logging.StreamHandler(sys.stdout))  # what TensorFlow adds in an interactive session
    runtime.setup_logging()
    tensorflow.warning("5 out of the last 12 calls to f took long")
    out, err = capsys.readouterr()
    assert out == "" and "WARNING tensorflow: 5 out of the last 12 calls to f took long" in err and tensorflow.handlers == []


def test_runner_uses_this_interpreter_and_names_the_failing_cell(tmp_path, monkeypatch, capsys):
    source = tiny_series(tmp_path, monkeypatch,
                         {"01_ok": ["import os, sys, json, pathlib\n"
                                   "pathlib.Path(run_dir, 'kernel.json').write_text(json.dumps("
                                   "[sys.executable, os.environ.get('TF_CPP_MIN_LOG_LEVEL'), profile]))"],
                          "02_fails": ["x = 1", "raise ValueError('bad thing\\nmore')", "y = 2"],
                          "03_never": ["import pathlib\npathlib.Path(run_dir, 'ran03').touch()"]})
    run_dir = tmp_path / "run"
    runtime.setup_logging()  # as a process that logs already has it: papermill's own lines still stay out

    assert cli.main(["run", "--profile", "tiny", "--run-dir", str(run_dir)]) == 1
    out, err = capsys.readouterr()
    assert "[1/3] 01_ok" in out
    assert "02_fails failed in cell 5 of the executed copy (In [4]: \"raise ValueError('bad thing\\\\nmore')\")" in err
    assert "ValueError: bad thing;" in err and len(err.strip().splitlines()) == 1
    executable, log_level, profile = json.loads((run_dir / "kernel.json").read_text())
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert (log_level, profile) == ("3", "tiny")
    assert (run_dir / "notebooks" / "01_ok.ipynb").exists()  # earlier results are kept
    assert (run_dir / "notebooks" / "02_fails.ipynb").exists()  # the failed copy shows the error
    assert not (run_dir / "ran03").exists()
    manifest = json.loads((run_dir / "manifest.json").read_text())  # how the run was made, as far as it went
    assert manifest["data"] == {"source": str(source), "sha256": hashlib.sha256(source.read_bytes()).hexdigest()}
    assert list(manifest["notebooks"]) == ["01_ok"] and manifest["profile"] == "tiny" and manifest["git_commit"]


def test_a_bug_in_the_runner_shows_its_traceback_and_a_notebook_lands_whole_or_not_at_all(tmp_path, monkeypatch,
                                                                                          capsys):
    tiny_series(tmp_path, monkeypatch, {"01_ok": ["print('hello')"]})
    run_dir = tmp_path / "run"
    assert cli.main(["run", "--profile", "tiny", "--run-dir", str(run_dir)]) == 0
    assert not list((run_dir / "notebooks").glob(".partial*"))  # papermill wrote aside, then moved it into place

    def broken_poll(self):
        raise TypeError("a bug in the progress code")

    monkeypatch.setattr(series.TrainingProgress, "__enter__", broken_poll)
    assert cli.main(["run", "--profile", "tiny", "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "TypeError: a bug in the progress code" in err and "this is a bug" in err
    assert not (run_dir / "notebooks" / "01_ok.ipynb").exists()  # no earlier run's copy passes for this run's


def test_log_output_streams_the_notebooks_outputs_only(tmp_path, monkeypatch, capsys):
    tiny_series(tmp_path, monkeypatch, {"01_says": ["print('hello from the kernel')"]})

    assert cli.main(["run", "--profile", "tiny", "--run-dir", str(tmp_path / "run"), "--log-output"]) == 0
    err = capsys.readouterr().err
    assert "hello from the kernel" in err and "Input Notebook" not in err


def write_profile(path: Path, **changes) -> Path:
    """The smoke profile with `changes` (a value of None drops the key), written to `path`."""
    import yaml

    params = {**yaml.safe_load((paths.PROJECT_ROOT / "params" / "smoke.yaml").read_text()), **changes}
    path.write_text(yaml.safe_dump({k: v for k, v in params.items() if v is not None}))
    return path


def test_a_profile_missing_a_key_stops_the_run_before_any_notebook(tmp_path, monkeypatch, capsys):
    tiny_series(tmp_path, monkeypatch, {"01_ok": ["import pathlib\npathlib.Path(run_dir, 'ran').touch()"]})
    write_profile(paths.PARAMS_DIR / "tiny.yaml", epochs_cnn=None)
    assert cli.main(["run", "--profile", "tiny", "--run-dir", str(tmp_path / "run")]) == 1
    out, err = capsys.readouterr()
    assert err.strip() == (f"fer-report: {paths.PARAMS_DIR / 'tiny.yaml'}: epochs_cnn is missing (expected a "
                           f"positive integer: epochs of CNN, augmentation)")
    assert "[1/" not in out and not (tmp_path / "run" / "ran").exists()


@pytest.mark.parametrize("changes, expected", [
    ({"epochs_cnn": "ten"}, "epochs_cnn must be a positive integer, got 'ten'"),
    ({"train_limit": -5}, "train_limit must be 0 or a positive integer, got -5"),
    ({"seed": None}, "seed is missing (expected 0 or a positive integer: the seed of every random draw)"),
    ({"mixed_precision_cnn_tuned": "fp8"}, "mixed_precision_cnn_tuned must be false, true, 'float16', 'bfloat16' or "
                                           "'auto', got 'fp8'"),
])
def test_a_wrong_profile_is_one_line_from_the_training_cli(tmp_path, capsys, changes, expected):
    from fer_utils import train

    path = write_profile(tmp_path / "my.yaml", **changes)
    assert cli.train_main(["cnn", "--profile", str(path), "--run-dir", str(tmp_path / "run")]) == 1
    one_line(capsys.readouterr().err, "fer_utils.train", str(path), expected)


def test_a_profile_is_a_name_or_a_path_with_or_without_its_yaml(tmp_path, monkeypatch):
    path = write_profile(tmp_path / "mine.yaml", epochs_cnn=3)
    monkeypatch.chdir(tmp_path)
    for given in (str(path), str(tmp_path / "mine"), "mine.yaml", "mine"):
        assert profiles.load_profile(given)["epochs_cnn"] == 3 and profiles.profile_name(given) == "mine"
    assert profiles.run_folder(str(path)) == paths.RUNS_DIR / "mine"
    assert profiles.load_profile("smoke")["epochs_cnn"] == 2  # a name of params/ first
    with pytest.raises(ProfileError, match=r"unknown profile 'other.yaml': no other.yaml"):
        profiles.load_profile("other.yaml")
    with pytest.raises(ProfileError, match="--profile '': name a profile"):
        profiles.load_profile("")


def test_an_empty_only_runs_nothing_instead_of_everything():
    for empty in ("", " ", ","):
        with pytest.raises(SeriesError, match="names no notebook"):
            series.select_notebooks(empty)


def test_every_help_text_ends_in_a_full_sentence_and_names_its_defaults(capsys):
    from fer_utils import train

    for command, argv in ((cli.main, ["--help"]), (cli.train_main, ["--help"]), (cli.main, ["predict", "--help"]),
                          (cli.main, ["run", "--help"])):
        with pytest.raises(SystemExit):
            command(argv)
        text = " ".join(capsys.readouterr().out.split())
        description = text.split(" positional arguments:")[0].split(" options:")[0]
        assert description.rstrip().endswith("."), description[-80:]
        if argv[0] in ("predict", "run"):
            assert "(default: predictions/;" in text if argv[0] == "predict" else "(default: quick)" in text
