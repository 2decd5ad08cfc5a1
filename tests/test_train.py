"""The training engine: a history with each epoch once, resume after a kill, load when finished, refuse to
mix parameters; DLSVM with averaged crops; precision, XLA, data parallelism and steps per call as options."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("keras")

from fer_utils import evaluation, registry, train, views  # noqa: E402
from fer_utils.train import read_history, train_model  # noqa: E402
from tests import fer_files as ff  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (70, 48, 48, 1)).astype("float32")
    y = np.arange(70) % 7
    return x[:56], y[:56], x[56:], y[56:]


def fit(tiny, folder, epochs, **kw):
    x, y, xv, yv = tiny
    return train_model("dnn", x, y, xv, yv, folder=folder, epochs=epochs, batch_size=16, seed=1, **kw)


def test_train_resume_and_load(tiny, tmp_path):
    folder = tmp_path / "dnn"
    first = fit(tiny, folder, 2)
    assert list(first.history["epoch"]) == [1, 2] and list(first.history.columns) == list(train.HISTORY_COLUMNS)
    assert first.history["lr"].iloc[-1] < 1e-3 and (first.history["seconds"] > 0).all()
    assert sorted(p.name for p in folder.glob("checkpoint-*")) == ["checkpoint-epoch0002.keras"]
    assert len(list(folder.glob("best-epoch*.keras"))) == 1 and not list(folder.glob(".partial-*"))

    stamp = (folder / "history.csv").stat().st_mtime_ns
    again = fit(tiny, folder, 2)  # finished: loaded, not redone
    assert (folder / "history.csv").stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(again.history, first.history)

    more = fit(tiny, folder, 4)  # asked for more epochs: resumes after epoch 2
    assert list(more.history["epoch"]) == [1, 2, 3, 4]
    pd.testing.assert_frame_equal(more.history.iloc[:2], first.history)
    best = int(more.history.loc[more.history["val_accuracy"].idxmax(), "epoch"])
    assert more.best_epoch == best and (folder / f"best-epoch{best:04d}.keras").exists()
    import zipfile  # the best model is for inference: no optimizer state, so well under the checkpoint's size

    kept = zipfile.ZipFile(folder / f"best-epoch{best:04d}.keras")
    assert not json.loads(kept.read("config.json")).get("compile_config")
    assert (folder / f"best-epoch{best:04d}.keras").stat().st_size < 0.6 * (folder / "checkpoint-epoch0004.keras").stat().st_size


def test_a_resume_draws_fresh_reproducible_randomness(tiny, tmp_path, monkeypatch):
    """Resuming after epoch n seeds with seed + n: re-seeding with the run's seed would replay the first epochs'
    shuffles, augmentations and dropout masks (seen as a sudden drop of the training loss after a resume)."""
    import shutil

    fit(tiny, tmp_path / "a", 2)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    seeds = []
    real = train.keras.utils.set_random_seed
    monkeypatch.setattr(train.keras.utils, "set_random_seed", lambda s: (seeds.append(s), real(s)))
    resumed_a, resumed_b = fit(tiny, tmp_path / "a", 3), fit(tiny, tmp_path / "b", 3)
    assert seeds == [1 + 2, 1 + 2]  # the helper trains with seed 1; two epochs were done
    pd.testing.assert_frame_equal(resumed_a.history.drop(columns="seconds"), resumed_b.history.drop(columns="seconds"))


def test_other_parameters_never_mix_with_an_old_run(tiny, tmp_path, caplog):
    folder = tmp_path / "dnn"
    old = fit(tiny, folder, 2, identity={"data": "a.csv"})
    x, y, xv, yv = tiny
    with caplog.at_level("WARNING", logger="fer_utils.train"):
        new = train_model("dnn", x, y, xv, yv, folder=folder, epochs=1, batch_size=32, seed=1,
                          identity={"data": "a.csv"})
    assert "batch_size: 16 then, 32 now" in caplog.text
    assert list(new.history["epoch"]) == [1]  # trained afresh, not resumed from the other run
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("dnn.replaced-")]
    assert len(aside) == 1
    pd.testing.assert_frame_equal(read_history(aside[0]), old.history)  # the old run is kept whole
    assert json.loads((folder / "config.json").read_text())["batch_size"] == 32


def test_files_of_an_epoch_in_flight_are_dropped_on_resume(tiny, tmp_path):
    """A kill after the checkpoint was written but before the history row: that epoch is trained again."""
    folder = tmp_path / "dnn"
    fit(tiny, folder, 2)
    (folder / "checkpoint-epoch0003.keras").write_bytes(b"half-written epoch 3")
    (folder / "best-epoch0003.keras").write_bytes(b"half-written epoch 3")
    (folder / ".partial-0a1b2c3d-checkpoint-epoch0003.keras").write_bytes(b"partial")
    (folder / ".partial-0a1b2c3d-history.csv").write_text("partial")
    trained = fit(tiny, folder, 3)
    assert list(trained.history["epoch"]) == [1, 2, 3]
    assert not list(folder.glob(".partial-*"))


def test_a_sigkilled_training_resumes_and_holds_each_epoch_once(tmp_path):
    images, labels, usage = ff.make_faces(per_usage_class=20)
    source = ff.write_fer2013_csv(tmp_path / "fer2013.csv", images, labels, usage)
    run_dir, epochs = tmp_path / "run", 10
    command = [sys.executable, "-m", "fer_utils.train", "dnn", "--profile", "smoke", "--data", str(source),
               "--run-dir", str(run_dir), "--epochs", str(epochs)]
    env = {**os.environ, "FER2013_CACHE": str(tmp_path / "cache")}
    history = run_dir / "models" / "dnn" / "history.csv"
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if history.exists() and len(read_history(history.parent)) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be killed: " + proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = len(read_history(history.parent))
    assert 3 <= killed_at < epochs

    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resuming after epoch {killed_at} of {epochs}" in result.stderr
    final = read_history(history.parent)
    assert list(final["epoch"]) == list(range(1, epochs + 1))
    record = json.loads((history.parent / "results.json").read_text())
    assert record["epochs"] == epochs and 0 <= record["val"]["accuracy"] <= 1


    # repeated, never the bottom rows wrapped around


def test_dlsvm_trains_and_evaluates_with_averaged_crops(tiny, tmp_path):
    x, y, xv, yv = tiny
    trained = train_model("dlsvm_svm", x, y, xv, yv, folder=tmp_path / "svm", epochs=1, batch_size=16, seed=1)
    result, averaged = evaluation.evaluate(trained.model, xv, yv, ["mirror x 5 crops"], scores=True)
    scores = np.mean([trained.model.predict(views.view(xv, *v), verbose=0)
                      for v in views.views_of("mirror x 5 crops")], axis=0)
    np.testing.assert_allclose(averaged["mirror x 5 crops"], scores, rtol=1e-4, atol=1e-5)
    assert result["view_sets"]["mirror x 5 crops"] == pytest.approx(np.mean(scores.argmax(1) == yv))
    assert np.isfinite(result["view_set_log_loss"]["mirror x 5 crops"])
    resumed = train_model("dlsvm_svm", x, y, xv, yv, folder=tmp_path / "svm", epochs=2, batch_size=16, seed=1)
    assert list(resumed.history["epoch"]) == [1, 2] and np.isfinite(resumed.history["loss"]).all()


def test_mixed_precision_and_xla_are_options(tiny, tmp_path):
    trained = fit(tiny, tmp_path / "mixed", 1, mixed_precision=True, jit_compile=True)
    assert np.isfinite(trained.history["loss"]).all()
    assert trained.model.get_layer("dense1").dtype_policy.name == "mixed_float16"
    assert trained.model.get_layer("emotion").dtype_policy.name == "float32"  # the softmax stays in float32
    assert json.loads((tmp_path / "mixed" / "config.json").read_text())["mixed_precision"] is True
    assert train.keras.config.dtype_policy().name == "float32"  # the scope restores the global policy
    with pytest.raises(ValueError, match="distribute must be"):
        fit(tiny, tmp_path / "bad", 1, distribute="model_parallel")


DATA_PARALLEL = """
import json, os, sys
if os.environ["KERAS_BACKEND"] == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from fer_utils import runtime, train
x = np.random.default_rng(0).uniform(-1, 1, (64, 48, 48, 1)).astype("float32")
y = np.arange(64) % 7
with runtime.compute_scope(distribute="data_parallel") as replicas:
    pass
t = train.train_model("dnn", x[:48], y[:48], x[48:], y[48:], folder=sys.argv[1], epochs=2, batch_size=16, seed=1,
                      distribute="data_parallel")
print(json.dumps({"replicas": replicas, "epochs": len(t.history), "loss": t.history["loss"].tolist()}))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_data_parallel_training_on_two_cpu_devices(backend, tmp_path):
    """Two logical CPU devices stand in for two GPUs: MirroredStrategy on TensorFlow, DataParallel on JAX."""
    pytest.importorskip(backend)
    env = {**os.environ, "KERAS_BACKEND": backend, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    out = subprocess.run([sys.executable, "-c", DATA_PARALLEL, str(tmp_path / "dnn")], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2 and result["epochs"] == 2 and np.isfinite(result["loss"]).all()


def test_a_model_whose_schedule_spans_the_training_starts_afresh_for_other_epochs(tiny, tmp_path, monkeypatch):
    """The tuned CNN's cosine schedule is built for the epochs asked: its builder gets the total steps, and
    asking for other epochs moves the old run aside instead of continuing past the schedule's end."""
    x, y, xv, yv = tiny
    built = []
    real = registry.MODELS["cnn_tuned"]
    monkeypatch.setitem(registry.MODELS, "cnn_tuned", registry.ModelSpec(
        "cnn_tuned", real.label, lambda seed=None, **kw: (built.append(kw), real.build(seed, **kw))[1],
        real.epochs_key, real.notebook, schedule_steps=True))
    folder = tmp_path / "tuned"
    train_model("cnn_tuned", x, y, xv, yv, folder=folder, epochs=1, batch_size=16, seed=1, mixed_precision="bfloat16")
    assert built == [{"total_steps": 4}]  # 56 faces in batches of 16, 1 epoch
    assert json.loads((folder / "config.json").read_text())["mixed_precision"] == "bfloat16"
    again = train_model("cnn_tuned", x, y, xv, yv, folder=folder, epochs=2, batch_size=16, seed=1,
                        mixed_precision="bfloat16")
    assert built[-1] == {"total_steps": 8} and list(again.history["epoch"]) == [1, 2]
    assert len(list(tmp_path.glob("tuned.replaced-*"))) == 1
    with pytest.raises(ValueError, match="mixed_precision must be"):
        fit(tiny, tmp_path / "bad", 1, mixed_precision="int8")


def test_steps_per_execution_gives_the_same_history(tiny, tmp_path):
    """Several batches per call into the device (a GPU's per-step overhead saved) train the same batches in the
    same order with the same random streams: the history matches one batch per call to float rounding."""
    one = fit(tiny, tmp_path / "one", 2)
    four = fit(tiny, tmp_path / "four", 2, steps_per_execution=4)
    columns = ["loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    np.testing.assert_allclose(four.history[columns].to_numpy(), one.history[columns].to_numpy(), rtol=1e-4,
                               atol=1e-5)
    with pytest.raises(ValueError, match="steps_per_execution must be a positive integer, got 0"):
        fit(tiny, tmp_path / "bad", 1, steps_per_execution=0)


def test_bfloat16_trains_and_evaluates_with_float32_outputs(tiny, tmp_path):
    x, y, xv, yv = tiny
    trained = fit(tiny, tmp_path / "bf16", 1, mixed_precision="bfloat16")
    assert trained.model.get_layer("dense1").dtype_policy.name == "mixed_bfloat16"
    outputs = trained.model.predict(xv, verbose=0)
    assert outputs.dtype == np.float32 and np.allclose(outputs.sum(axis=1), 1, atol=1e-5)
    scores, _ = evaluation.evaluate(trained.model, xv, yv)
    assert 0 <= scores["accuracy"] <= 1 and np.isfinite(trained.history["val_loss"]).all()


