"""The training engine: a history with each epoch once, resume after a kill, load when finished, refuse to
mix parameters; evaluation plain and flip-averaged; curve analysis."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("keras")

from fer_utils import evaluation, registry, results, train  # noqa: E402
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


def test_evaluate_plain_and_flip_averaged(tiny, tmp_path):
    trained = fit(tiny, tmp_path / "dnn", 1)
    x, y = tiny[2], tiny[3]
    result, averaged = evaluation.evaluate(trained.model, x, y)
    p = trained.model.predict(x, verbose=0)
    assert result["accuracy"] == pytest.approx(np.mean(p.argmax(1) == y))
    flipped = (p + trained.model.predict(x[:, :, ::-1], verbose=0)) / 2
    assert result["flip_accuracy"] == pytest.approx(np.mean(flipped.argmax(1) == y))
    np.testing.assert_allclose(averaged["mirror"], flipped, atol=1e-6)
    assert list(result["per_class"]) == list(evaluation.CLASS_NAMES)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_a_shifted_view_is_the_face_moved_with_its_edge_rows_repeated(k):
    x = np.random.default_rng(k).normal(size=(3, 48, 48, 1)).astype("float32")
    down = evaluation.view(x, k, 0, False)  # the window moves down: the face moves up by k rows
    np.testing.assert_array_equal(down[:, :48 - k], x[:, k:])
    np.testing.assert_array_equal(down[:, 48 - k:], np.repeat(x[:, 47:], k, axis=1))
    left = evaluation.view(x, 0, -k, False)  # the window moves left: the face moves right by k columns
    np.testing.assert_array_equal(left[:, :, k:], x[:, :, :48 - k])
    np.testing.assert_array_equal(left[:, :, :k], np.repeat(x[:, :, :1], k, axis=2))
    diagonal = evaluation.view(x, -k, k, True)  # up and right, then mirrored
    np.testing.assert_array_equal(diagonal[:, k:, k:], x[:, :48 - k, k:][:, :, ::-1])
    np.testing.assert_array_equal(diagonal[:, :k], np.repeat(diagonal[:, k:k + 1], k, axis=1))  # the top row
    # repeated, never the bottom rows wrapped around


def test_crop_views_move_the_centre_crop_to_the_corners_and_mirror():
    x = np.random.default_rng(0).normal(size=(2, 48, 48, 1)).astype("float32")
    crops = [evaluation.view(x, *v)[:, 3:45, 3:45] for v in evaluation.views_of("mirror x 5 crops")]
    np.testing.assert_array_equal(crops[0], x[:, 3:45, 3:45])
    np.testing.assert_array_equal(crops[1], x[:, 3:45, 3:45][:, :, ::-1])
    np.testing.assert_array_equal(crops[2], x[:, 0:42, 0:42])
    np.testing.assert_array_equal(crops[8], x[:, 6:48, 6:48])
    np.testing.assert_array_equal(crops[9], x[:, 6:48, 6:48][:, :, ::-1])
    with pytest.raises(ValueError, match="unknown test views 'ten crops'; choose one of plain, mirror"):
        evaluation.views_of("ten crops")


class PixelModel:
    """A stand-in for a Keras model whose class scores are linear in the pixels, so that every view gives
    other outputs (probabilities, or SVM-like scores)."""

    def __init__(self, scores: bool = False):
        self.weights = np.random.default_rng(5).normal(0, 0.02, size=(48 * 48, 7)).astype(np.float32)
        self.scores = scores

    def predict(self, x, batch_size=None, verbose=0):
        logits = x.reshape(len(x), -1) @ self.weights
        if self.scores:
            return logits
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def predict_on_batch(self, x):
        return self.predict(x)


def test_views_are_predicted_in_chunks_as_one_by_one(monkeypatch):
    x = np.random.default_rng(1).normal(size=(50, 48, 48, 1)).astype("float32")
    model, views = PixelModel(), evaluation.views_of("mirror x 9 shifts")
    monkeypatch.setattr(evaluation, "CHUNK", 7 * len(views))  # 8 calls of 7 faces' views, the last of 1
    together = evaluation.predict_views(model, x, views)
    one_by_one = np.stack([model.predict(evaluation.view(x, *v)) for v in views])
    np.testing.assert_allclose(together, one_by_one, rtol=1e-5, atol=1e-6)


def test_view_sets_are_chosen_on_val_alone():
    rng = np.random.default_rng(2)
    x = {"val": rng.normal(size=(120, 48, 48, 1)).astype("float32"),
         "test": rng.normal(size=(100, 48, 48, 1)).astype("float32")}
    y = {"val": rng.integers(0, 7, 120), "test": rng.integers(0, 7, 100)}
    sets = registry.CROP_VIEWS
    first, outputs = evaluation.evaluate_splits(PixelModel(scores=True), x, y, sets, scores=True)
    assert first["val"]["views"] == evaluation.choose_views(first["val"]) and set(first["val"]["view_sets"]) == set(sets)
    assert first["test"]["views"] == first["val"]["views"] and list(first["test"]["view_sets"]) == [first["val"]["views"]]
    assert outputs["test"].shape == (100, 7) and outputs["val"].shape == (120, 7)
    for relabelled in (rng.permutation(y["test"]), (y["test"] + 1) % 7, np.zeros(100, int)):
        second, _ = evaluation.evaluate_splits(PixelModel(scores=True), x, {**y, "test": relabelled}, sets, scores=True)
        assert second["val"] == first["val"] and second["test"]["views"] == first["test"]["views"]


def test_the_choice_breaks_ties_by_val_log_loss_then_fewer_views():
    record = {"view_sets": {"plain": 0.60, "mirror": 0.62, "mirror x 5 shifts": 0.62, "mirror x 9 shifts": 0.62},
              "view_set_log_loss": {"plain": 1.0, "mirror": 0.95, "mirror x 5 shifts": 0.93, "mirror x 9 shifts": 0.93}}
    assert evaluation.choose_views(record) == "mirror x 5 shifts"
    record["view_set_log_loss"]["mirror x 9 shifts"] = 0.92
    assert evaluation.choose_views(record) == "mirror x 9 shifts"
    record["view_sets"]["plain"] = 0.63
    assert evaluation.choose_views(record) == "plain"


def test_dlsvm_trains_and_evaluates_with_averaged_crops(tiny, tmp_path):
    x, y, xv, yv = tiny
    trained = train_model("dlsvm_svm", x, y, xv, yv, folder=tmp_path / "svm", epochs=1, batch_size=16, seed=1)
    result, averaged = evaluation.evaluate(trained.model, xv, yv, ["mirror x 5 crops"], scores=True)
    scores = np.mean([trained.model.predict(evaluation.view(xv, *v), verbose=0)
                      for v in evaluation.views_of("mirror x 5 crops")], axis=0)
    np.testing.assert_allclose(averaged["mirror x 5 crops"], scores, rtol=1e-4, atol=1e-5)
    assert result["view_sets"]["mirror x 5 crops"] == pytest.approx(np.mean(scores.argmax(1) == yv))
    assert np.isfinite(result["view_set_log_loss"]["mirror x 5 crops"])
    resumed = train_model("dlsvm_svm", x, y, xv, yv, folder=tmp_path / "svm", epochs=2, batch_size=16, seed=1)
    assert list(resumed.history["epoch"]) == [1, 2] and np.isfinite(resumed.history["loss"]).all()


def test_overfitting_onset_from_the_curves():
    falling = pd.DataFrame({"epoch": [1, 2, 3, 4, 5], "loss": [2.0, 1.5, 1.2, 1.0, 0.8],
                            "val_loss": [1.9, 1.6, 1.4, 1.5, 1.7]})
    assert results.overfitting_onset(falling) == 3
    still_improving = falling.assign(val_loss=[1.9, 1.7, 1.5, 1.4, 1.3])
    assert results.overfitting_onset(still_improving) is None


def test_results_table_with_chosen_views_and_published_anchors():
    e = results.record("dlsvm_svm", trainable_parameters=5, epochs=3, best_epoch=2, training_seconds=120,
                       splits={"val": {"accuracy": 0.5, "views": "mirror x 5 crops", "views_accuracy": 0.55,
                                       "view_sets": {"plain": 0.5, "mirror x 5 crops": 0.55}},
                               "test": {"accuracy": 0.4, "flip_accuracy": 0.45, "views": "mirror x 5 crops",
                                        "views_accuracy": 0.47}})
    table = results.table([e])
    assert table.loc["DLSVM, L2-SVM head", "test accuracy, chosen views"] == 0.47
    assert table.loc["DLSVM, L2-SVM head", results.VIEWS_COLUMN] == "mirror x 5 crops"
    assert results.formatted(table).loc["DLSVM, L2-SVM head", results.VIEWS_COLUMN] == "mirror x 5 crops"
    assert list(results.formatted(table).columns)[-1] == "training minutes"
    assert table.loc["DLSVM, L2-SVM head", "training minutes"] == 2
    both = results.table([e], anchors=["tang"])
    assert both.loc["DLSVM, Tang 2013 (challenge winner)", "test accuracy"] == pytest.approx(0.7116)
    assert both["epochs"].dtype == "Int64" and pd.isna(both["epochs"].iloc[-1])
    views = results.views_table([e])
    assert list(results.formatted(views).columns) == [
        "val accuracy, plain", "val accuracy, mirror x 5 crops", "chosen on val", "test accuracy",
        "test accuracy, mirror", "test accuracy, chosen views"]
    assert results.points(0.7116 - 0.65) == "+6.2 points" and results.points(-0.02) == "-2.0 points"
    assert results.points(-0.0003) == "-0.03 points" and results.points(0.0) == "+0.0 points"


def test_every_accuracy_of_a_table_carries_its_interval_over_the_faces():
    splits = {s: {"accuracy": 0.633, "flip_accuracy": 0.64, "views": "mirror", "views_accuracy": 0.633}
              for s in ("val", "test")}
    outputs = {s: np.eye(7)[np.r_[np.zeros(633, int), np.ones(367, int)]] for s in splits}
    labels = {s: np.zeros(1000, int) for s in splits}
    e = results.record("cnn", trainable_parameters=5, epochs=3, best_epoch=2, training_seconds=60,
                       splits=results.per_face(splits, outputs, labels))
    assert e["test"]["faces"] == 1000 and results.correct(e).sum() == 633
    low, high = e["test"]["intervals"]["views_accuracy"]
    assert low < 0.633 < high and high - low == pytest.approx(0.06, abs=0.002)  # about +-3 points on 1,000 faces
    shown = results.formatted(results.table([e], anchors=["tang"]))
    assert shown.loc["CNN, augmentation", "test accuracy, chosen views"] == "63.3% (60.3-66.2%)"
    assert shown.loc["CNN, augmentation", "best val accuracy"].endswith("%)")
    assert shown.loc["DLSVM, Tang 2013 (challenge winner)", "test accuracy"] == "71.2%"  # a published number alone
    with pytest.raises(ValueError, match="another training"):  # outputs that do not give the record's accuracy
        results.per_face(splits, {s: np.eye(7)[np.zeros(1000, int)] for s in splits}, labels)


def test_tables_read_as_percentages_counts_and_blanks():
    from tests.browser import unreadable

    frame = pd.DataFrame({"val accuracy": [0.61234, np.nan], "faces": [1703623.0, 12.0], "loss": [0.95123, 1.2],
                          "lr": [0.000659, 0.001], "views": ["mirror", None], "share": [0.25, 0.5]},
                         index=["a", "b"]).astype({"faces": "Int64"})
    shown = results.readable(frame, percent=("share",), formats={"lr": "{:.2e}"})
    assert shown.loc["a"].tolist() == ["61.2%", "1,703,623", "0.951", "6.59e-04", "mirror", "25.0%"]
    assert shown.loc["b"].tolist() == ["", "12", "1.200", "1.00e-03", "", "50.0%"]
    history = pd.DataFrame({"epoch": [1, 2], "loss": [1.5, 1.25], "accuracy": [0.3, 0.41], "val_loss": [1.6, 1.4],
                            "val_accuracy": [0.32, 0.4], "lr": [1e-3, 9.9e-4], "seconds": [12.34, 11.0]})
    table = results.history_table(history)
    assert table.loc[2].tolist() == ["1.250", "41.0%", "1.400", "40.0%", "9.90e-04", "11.0"]
    assert not unreadable([*shown.to_numpy().ravel(), *table.to_numpy().ravel()])
    assert unreadable(["NaN", "<NA>", "0.123456", "61.2%"]) == ["NaN", "<NA>", "0.123456"]


def test_mixed_precision_and_xla_are_options(tiny, tmp_path):
    trained = fit(tiny, tmp_path / "mixed", 1, mixed_precision=True, jit_compile=True)
    assert np.isfinite(trained.history["loss"]).all()
    assert trained.model.get_layer("dense1").dtype_policy.name == "mixed_float16"
    assert trained.model.get_layer("emotion").dtype_policy.name == "float32"  # the softmax stays in float32
    assert json.loads((tmp_path / "mixed" / "config.json").read_text())["mixed_precision"] is True
    assert train.keras.config.dtype_policy().name == "float32"  # the scope restores the global policy
    with pytest.raises(ValueError, match="distribute must be"):
        fit(tiny, tmp_path / "bad", 1, distribute="model_parallel")


def test_auto_precision_is_bfloat16_only_where_the_device_has_it(monkeypatch):
    from fer_utils import runtime, settings

    for native, expected, policy in ((True, "bfloat16", "mixed_bfloat16"), (False, False, "float32")):
        monkeypatch.setattr(runtime, "native_bfloat16", lambda native=native: native)
        assert runtime.resolved_precision("auto") == expected
        with runtime.compute_scope("auto"):
            assert train.keras.config.dtype_policy().name == policy
    assert runtime.resolved_precision("float16") == "float16" and runtime.resolved_precision(False) is False
    with pytest.raises(ValueError, match="'bfloat16' or 'auto', got 'bf16'"):
        with runtime.compute_scope("bf16"):
            pass
    profile = {"mixed_precision": False, "mixed_precision_cnn_tuned": "auto"}
    assert settings.resolve(profile, "cnn_tuned")["mixed_precision"] == "auto"
    assert settings.resolve(profile, "cnn")["mixed_precision"] is False
    assert isinstance(runtime.native_bfloat16(), bool)


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


def test_a_gpu_the_backend_cannot_see_is_warned_about(monkeypatch):
    from fer_utils import runtime

    monkeypatch.setattr(runtime, "devices", lambda: ["CPU"])
    monkeypatch.setattr(runtime, "machine_gpus", lambda: ["0000:65:00.0"])
    where, warning = runtime.device_report()
    assert where.endswith("on CPU") and "1 NVIDIA GPU(s)" in warning and "sees only CPU" in warning
    monkeypatch.setattr(runtime, "devices", lambda: ["GPU:0 NVIDIA H200"])
    assert runtime.device_report() == (f"Keras backend {train.keras.backend.backend()} on GPU:0 NVIDIA H200", None)
    monkeypatch.setattr(runtime, "devices", lambda: ["CPU"])
    monkeypatch.setattr(runtime, "machine_gpus", lambda: [])
    assert runtime.device_report()[1] is None


def test_tensorflows_retracing_hint_is_dropped_and_other_warnings_stay(caplog):
    from fer_utils import runtime

    runtime.import_keras_quietly()
    logger = logging.getLogger("tensorflow")
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        logger.warning("6 out of the last 10 calls to <function f> triggered tf.function retracing. Tracing is ...")
        logger.warning("a warning that matters")
    assert [r.getMessage() for r in caplog.records] == ["a warning that matters"]
