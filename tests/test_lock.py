"""One writer per folder, tried with two processes: a second training of the same model, or a second series, in a
held run folder stops with one line naming the holder; a lock left by a killed process is taken over."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fer_utils import cli, lock, paths, reference, train
from tests import fer_files as ff
from tests.test_cli import tiny_series

HOLD = """
import sys, time
from fer_utils import lock
with lock.holding(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def hold():
    """Start a process holding a lock file; yields a function (path, what) -> the process, killed at the end."""
    started = []

    def start(path, what):
        process = subprocess.Popen([sys.executable, "-c", HOLD, str(path), what], stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout.readline().strip() == "held"
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


def test_a_held_lock_names_its_holder_and_a_killed_holders_lock_is_taken_over(tmp_path, hold):
    path = tmp_path / "models" / "cnn.lock"
    holder = hold(path, "the training of cnn")
    with pytest.raises(lock.FolderInUse) as error:
        with lock.holding(path, "another training"):
            pass
    message = str(error.value)
    assert message.startswith(f"{path.parent} is in use by the training of cnn (process {holder.pid} on ")
    assert ", started 20" in message and message.endswith("wait for it to finish, or stop it")
    holder.kill()  # SIGKILL: nothing of the holder's clean-up runs
    holder.wait()
    with lock.holding(path, "the next training"):
        assert json.loads(path.read_text())["pid"] == os.getpid()
    with lock.holding(path, "again"):  # released at the end of the block
        pass


def test_a_second_training_of_the_same_model_in_the_same_run_folder_stops(tmp_path, hold, capsys, monkeypatch):
    monkeypatch.setenv("FER2013_CACHE", str(tmp_path / "cache"))
    source = ff.write_fer2013_csv(tmp_path / "fer2013.csv", *ff.make_faces(per_usage_class=2))
    run = tmp_path / "run"
    holder = hold(run / "models" / "dnn.lock", "the training of dnn")
    assert cli.train_main(["dnn", "--profile", "smoke", "--data", str(source), "--run-dir", str(run)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"fer_utils.train: {run / 'models' / 'dnn'} is in use by the training of dnn (process "
                              f"{holder.pid} ")
    assert not (run / "models" / "dnn").exists()  # nothing written beside the holder


def test_a_second_series_in_the_same_run_folder_stops(tmp_path, hold, capsys, monkeypatch):
    tiny_series(tmp_path, monkeypatch, {"01_ok": ["import pathlib\npathlib.Path(run_dir, 'ran').touch()"]})
    run = tmp_path / "run"
    holder = hold(paths.RunPaths(run).lock, "fer-report run --profile tiny")
    assert cli.main(["run", "--profile", "tiny", "--run-dir", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"fer-report: {run} is in use by fer-report run --profile tiny (process {holder.pid} on ")
    assert err.count("\n") == 1
    assert not (run / "ran").exists()


def test_a_render_of_a_run_being_written_stops_with_one_line(tmp_path, hold, capsys, monkeypatch):
    """A render holds the run's lock: a render (or a series) started while another writes the run stops with one
    line, and the report the first one writes is whole."""
    tiny_series(tmp_path, monkeypatch, {"01_ok": ["print('hello')"]})
    run = tmp_path / "run"
    assert cli.main(["run", "--profile", "tiny", "--run-dir", str(run)]) == 0
    holder = hold(paths.RunPaths(run).lock, "fer-report render")
    assert cli.main(["render", "--run-dir", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"fer-report: {run} is in use by fer-report render (process {holder.pid} ")
    assert not (run / "report").exists() and not list(run.glob(".partial*"))


def test_a_series_never_touches_a_model_folder_a_training_holds(tmp_path, hold, capsys):
    """A training running in a run folder (its model's lock held) is not moved aside or replaced by the series'
    check of the reference run's trainings: the series stops with one line naming the training."""
    from fer_utils import data

    try:
        source = data.resolve_source(None)
    except (FileNotFoundError, data.DataError):
        pytest.skip("no FER2013 data found")
    if data.sha256(source) not in reference.data_hashes():
        pytest.skip("the data is not the reference run's")
    run = tmp_path / "run"
    (run / "models" / "dnn").mkdir(parents=True)
    (run / "models" / "dnn" / "history.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds\n")
    holder = hold(run / "models" / "dnn.lock", "the training of dnn")
    assert cli.main(["run", "--profile", "quick", "--only", "01", "--run-dir", str(run), "--data", str(source)]) == 1
    err = capsys.readouterr().err
    ours = [line for line in err.splitlines() if line.startswith("fer-report")]  # beside the data's log line
    assert len(ours) == 1 and f"is in use by the training of dnn (process {holder.pid} " in ours[0]
    assert (run / "models" / "dnn" / "history.csv").exists() and not list((run / "models").glob("dnn.replaced-*"))


def test_a_second_predict_into_the_same_out_folder_stops(tmp_path, hold, capsys):
    from fer_utils import faces

    out = tmp_path / "out"
    holder = hold(tmp_path / ".out.lock", "fer-report predict")
    assert cli.main(["predict", str(faces.sample_photo()), "--out", str(out), "--detector", "haar"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"fer-report predict: {out} is in use by fer-report predict (process {holder.pid} ")
    assert not list(out.iterdir())  # nothing written into it
