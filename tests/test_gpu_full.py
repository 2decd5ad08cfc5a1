"""benchmarks/gpu_full.py's packing and unpacking: trainings made on another machine (with its own path to the
data) come back into a run folder here, are loaded instead of trained again, and trainings on other faces are
refused. The GPU script's whole rehearsal (training included) is the documented command in docs/backends.md."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from fer_utils import data, paths, preprocess, profiles, train
from tests import fer_files as ff

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("gpu_full", ROOT / "benchmarks" / "gpu_full.py")
gpu_full = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_full)


@pytest.fixture
def tiny_profile(tmp_path, monkeypatch):
    folder = tmp_path / "params"
    folder.mkdir()
    smoke = profiles.load_profile("smoke")
    (folder / "tiny.yaml").write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in
                                                {**smoke, "train_limit": 0, "eval_limit": 0}.items()))
    monkeypatch.setattr(paths, "PARAMS_DIR", folder)
    return "tiny"


def test_packed_trainings_come_back_and_load_without_training(tmp_path, tiny_profile, capsys):
    images, labels, usage = ff.make_faces(per_usage_class=4)
    for folder in ("there", "here", "other"):
        (tmp_path / folder).mkdir()
    there = ff.write_fer2013_csv(tmp_path / "there" / "fer2013.csv", images, labels, usage)
    here = ff.write_fer2013_csv(tmp_path / "here" / "fer2013.csv", images, labels, usage)  # the same faces
    fer = data.load_fer2013(there, use_cache=False)
    remote = tmp_path / "remote-run"
    (remote / "logs").mkdir(parents=True)
    (remote / "logs" / "dnn.log").write_text("epoch lines\n")
    trained, _ = train.train_and_evaluate("dnn", fer, preprocess.prepared(fer, "report", remote), remote, epochs=1,
                                          batch_size=16, seed=1, train_limit=0, eval_limit=0)
    parts = gpu_full.pack(remote, ["dnn"], tmp_path / "out" / "trainings-2.tar")
    assert [p.name for p in parts] == ["trainings-2.tar.part00"]

    local = tmp_path / "local-run"
    assert gpu_full.main(["unpack", str(tmp_path / "out"), "--profile", tiny_profile, "--data", str(here),
                          "--run-dir", str(local)]) == 0
    assert "dnn: 1 epochs, best epoch 1" in capsys.readouterr().out
    settings = json.loads((local / "models" / "dnn" / "config.json").read_text())
    assert settings["data"] == str(Path(here).resolve()) and (local / "logs" / "dnn.log").exists()
    again = data.load_fer2013(here, use_cache=False)
    loaded, record = train.train_and_evaluate("dnn", again, preprocess.prepared(again, "report", local), local, epochs=1,
                                              batch_size=16, seed=1, train_limit=0, eval_limit=0)
    assert not list((local / "models").glob("dnn.replaced-*"))  # loaded, not trained again
    assert loaded.history.equals(trained.history)

    other = ff.write_fer2013_csv(tmp_path / "other" / "fer2013.csv", *ff.make_faces(per_usage_class=4, seed=7))
    assert gpu_full.main(["unpack", str(tmp_path / "out"), "--profile", tiny_profile, "--data", str(other),
                          "--run-dir", str(tmp_path / "refused")]) == 1
    assert "fitted on other training faces" in capsys.readouterr().err
    assert not (tmp_path / "refused" / "models" / "dnn").exists()
