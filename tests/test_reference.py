"""Starting from a reference run: a training with the reference's settings is copied in and loaded, not trained;
--retrain, other settings and unusable reference files train here; the compact model form; the expected time
printed before a training; the CPU kernels chosen (oneDNN on, no XLA under TensorFlow on a CPU)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("keras")

import fer_utils  # noqa: E402
from fer_utils import atomic, cli, data, history, loading, paths, preprocess, reference, runtime, speed, train  # noqa: E402
from fer_utils.errors import UserError  # noqa: E402
from tests import fer_files as ff  # noqa: E402

SETTINGS = {"epochs": 2, "batch_size": 16, "seed": 1, "train_limit": 0, "eval_limit": 0}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return ff.write_fer2013_csv(tmp_path_factory.mktemp("data") / "fer2013.csv", *ff.make_faces(per_usage_class=4))


@pytest.fixture
def faces(source, tmp_path, monkeypatch):
    monkeypatch.setenv("FER2013_CACHE", str(tmp_path / "cache"))
    return data.load_fer2013(source)


def run_training(fer, run, **kw):
    """The DNN trained (or loaded) in run folder `run` as the notebooks do; returns (record, epochs trained)."""
    calls = []
    _, record = train.train_and_evaluate("dnn", fer, preprocess.prepared(fer, "report", run), run,
                                         **{**SETTINGS, **kw}, before_training=calls.append)
    return record, calls


@pytest.fixture(scope="module")
def reference_run(source, tmp_path_factory):
    """A reference run holding a 2-epoch DNN trained on the faces, laid out as `fer-report publish` lays it (made
    once for the module; each test gets its own copy)."""
    root = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FER2013_CACHE", str(root / "cache"))
        record, _ = run_training(data.load_fer2013(source), root / "there")
    folder = root / "reference"
    (folder / "histories").mkdir(parents=True)
    shutil.copyfile(root / "there" / "models" / "dnn" / "history.csv", folder / "histories" / "dnn.csv")
    reference.save_compact(loading.load_best(root / "there", "dnn"), folder / "models" / "dnn.keras")
    shutil.copyfile(root / "there" / "models" / "preprocessing.npz", folder / "models" / "preprocessing.npz")
    (folder / "outputs").mkdir()
    shutil.copyfile(root / "there" / "models" / "dnn" / "outputs.npz", folder / "outputs" / "dnn.npz")
    (folder / "results.json").write_text(json.dumps({"models": {"dnn": reference.seal(record)}}))
    return folder


@pytest.fixture
def committed(reference_run, tmp_path, monkeypatch):
    """This test's copy of the reference run, as the only one the package knows."""
    folder = shutil.copytree(reference_run, tmp_path / "project" / "reference")
    monkeypatch.setattr(reference, "REFERENCE_RUNS", (str(folder),))
    return folder


def test_a_run_with_the_references_settings_loads_its_training(faces, committed, tmp_path):
    record, trained = run_training(faces, tmp_path / "here")
    folder = tmp_path / "here" / "models" / "dnn"
    assert trained == [] and not list(folder.glob("checkpoint-*"))  # nothing was trained
    assert history.read_history(folder).equals(history.history_csv(committed / "histories" / "dnn.csv"))
    marker = reference.adopted(folder)
    assert marker["training"] == record["training"] and marker["model"].endswith("models/dnn.keras")
    assert record["training"]["data_sha256"] == data.sha256(faces.source) and record["epochs"] == 2
    again, trained = run_training(faces, tmp_path / "here")  # a second run loads the same
    assert trained == [] and again["val"] == record["val"]


def test_a_taken_training_takes_the_reference_evaluation_and_measures_it_where_none_is_saved(faces, committed,
                                                                                            tmp_path, monkeypatch):
    stated = json.loads((committed / "results.json").read_text())["models"]["dnn"]
    with monkeypatch.context() as m:
        m.setattr(train.evaluation, "evaluate_splits", lambda *a, **k: pytest.fail("evaluated again"))
        record, _ = run_training(faces, tmp_path / "here")
    assert record["evaluated_in"] == paths.shown_path(committed) and {s: record[s] for s in ("val", "test")} == \
        {s: stated[s] for s in ("val", "test")}
    with np.load(tmp_path / "here" / "models" / "dnn" / "outputs.npz") as mine, \
            np.load(committed / "outputs" / "dnn.npz") as theirs:
        assert all(np.array_equal(mine[s], theirs[s]) for s in ("val", "test"))
    (committed / "outputs" / "dnn.npz").unlink()  # a reference run without saved outputs: measured here
    measured, trained = run_training(faces, tmp_path / "there")
    assert trained == [] and "evaluated_in" not in measured
    assert measured["test"]["views"] == stated["test"]["views"]
    assert measured["test"]["views_accuracy"] == pytest.approx(stated["test"]["views_accuracy"], abs=0.02)


def test_a_finished_training_keeps_its_evaluation_and_an_unsaved_one_is_measured_the_same(faces, tmp_path,
                                                                                           monkeypatch):
    first, trained = run_training(faces, tmp_path / "here")  # trained here: no reference run has these faces
    assert trained == [0] and "evaluated_in" not in first
    folder = tmp_path / "here" / "models" / "dnn"
    with monkeypatch.context() as m:
        m.setattr(train.evaluation, "evaluate_splits", lambda *a, **k: pytest.fail("evaluated again"))
        again, trained = run_training(faces, tmp_path / "here")
    assert trained == [] and again == first
    (folder / "outputs.npz").unlink()  # no saved outputs: measured again, to the same numbers
    measured, _ = run_training(faces, tmp_path / "here")
    assert measured == first and (folder / "outputs.npz").exists()


def test_new_data_at_the_same_path_is_a_new_training(source, tmp_path, monkeypatch):
    """A training's identity is its data's content, not the file's path: the same path holding other faces trains
    afresh (the earlier training moved aside), where the same faces are loaded."""
    monkeypatch.setenv("FER2013_CACHE", str(tmp_path / "cache"))
    path = shutil.copyfile(source, tmp_path / "fer2013.csv")
    _, trained = run_training(data.load_fer2013(path), tmp_path / "here")
    _, again = run_training(data.load_fer2013(path), tmp_path / "here")
    assert trained == [0] and again == []
    lines = path.read_text().splitlines()
    lines[1] = ("1" if lines[1][0] != "1" else "2") + lines[1][1:]  # one training label changed
    path.write_text("\n".join(lines) + "\n")
    record, _ = run_training(data.load_fer2013(path), tmp_path / "here")
    assert record["training"]["data_sha256"] == data.sha256(path)
    aside = list((tmp_path / "here" / "models").glob("dnn.replaced-*"))  # the earlier training, kept apart
    assert len(aside) == 1 and json.loads((aside[0] / "config.json").read_text())["data_sha256"] != \
        data.sha256(path)


def test_retrain_moves_the_reference_training_aside_and_trains_here(faces, committed, tmp_path):
    run_training(faces, tmp_path / "here")
    record, trained = run_training(faces, tmp_path / "here", retrain=True)
    models = tmp_path / "here" / "models"
    assert trained == [0] and reference.adopted(models / "dnn") is None
    aside = list(models.glob("dnn.replaced-*"))
    assert len(aside) == 1 and reference.adopted(aside[0]) is not None
    _, trained = run_training(faces, tmp_path / "here", retrain=True)  # trained here: loaded, not redone
    assert trained == []


def test_other_settings_train_here_and_a_copied_training_is_not_continued(faces, committed, tmp_path):
    run_training(faces, tmp_path / "here")
    record, trained = run_training(faces, tmp_path / "here", epochs=3)  # no optimizer state to continue from
    assert trained == [0] and record["epochs"] == 3 and reference.adopted(tmp_path / "here" / "models" / "dnn") is None
    _, trained = run_training(faces, tmp_path / "other", seed=2)
    assert trained == [0]


def swap_in_another_model(ref):
    """The committed DNN replaced by another model whose record states its own hash (as publish writes it)."""
    committed = json.loads((ref / "results.json").read_text())
    committed["models"]["dnn"] = reference.seal({**committed["models"]["dnn"],
                                                 reference.MODEL_SHA256: atomic.file_sha256(ref / "models" / "dnn.keras")})
    (ref / "results.json").write_text(json.dumps(committed))
    from fer_utils import models

    reference.save_compact(models.build_dnn(seed=7), ref / "models" / "dnn.keras")


def change_an_accuracy(ref) -> float:
    """One digit of the DNN's stated test accuracy changed by hand in the committed results; the changed value."""
    path = ref / "results.json"
    text = path.read_text()
    stated = json.dumps(json.loads(text)["models"]["dnn"]["test"]["accuracy"])
    changed = stated[:-1] + ("1" if stated[-1] != "1" else "2")
    path.write_text(text.replace(f'"accuracy": {stated}', f'"accuracy": {changed}', 1))
    assert path.read_text() != text
    return json.loads(changed)


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def other_statistics(path):
    np.savez(path, mean=np.zeros((48, 48), np.float32), scale=np.float32(1), fitted_on=np.array("0123456789abcdef"))


@pytest.mark.parametrize("damage, named", [
    (lambda ref: (ref / "models" / "dnn.keras").unlink(), "dnn.keras is missing"),
    (lambda ref: truncate(ref / "models" / "dnn.keras"), "dnn.keras is damaged or truncated"),
    (lambda ref: (ref / "histories" / "dnn.csv").write_text("epoch,loss\n3,1\n"), "dnn.csv: not a history"),
    (lambda ref: other_statistics(ref / "models" / "preprocessing.npz"), "fitted on other training faces"),
    (lambda ref: swap_in_another_model(ref), "dnn.keras is not the model its results describe"),
    (lambda ref: change_an_accuracy(ref), "its record of dnn is not as committed"),
], ids=["missing", "truncated", "history", "other-faces", "swapped", "record-changed"])
def test_unusable_reference_files_are_named_and_the_training_runs(faces, committed, tmp_path, caplog, damage, named):
    damage(committed)
    with caplog.at_level(logging.WARNING, logger="fer_utils.reference"):
        record, trained = run_training(faces, tmp_path / "here")
    lines = [r.getMessage() for r in caplog.records if r.name == "fer_utils.reference"]
    assert len(lines) == 1 and named in lines[0] and "training it here" in lines[0]
    models = tmp_path / "here" / "models"
    assert trained == [0] and record["epochs"] == 2 and reference.adopted(models / "dnn") is None
    assert not [p for p in models.rglob("*") if p.name.startswith(".partial-")]  # nothing half-copied


def test_a_changed_accuracy_in_the_committed_results_never_reaches_the_run(faces, committed, tmp_path):
    changed = change_an_accuracy(committed)
    record, trained = run_training(faces, tmp_path / "here")
    assert trained == [0] and "evaluated_in" not in record  # trained and measured here, nothing copied
    test = record["test"]
    assert test["accuracy"] != changed and round(test["accuracy"] * test["faces"]) / test["faces"] == test["accuracy"]


def test_a_damaged_committed_results_file_is_named_not_taken_for_other_data(faces, committed, tmp_path, capsys):
    path = committed / "results.json"
    path.write_bytes(path.read_bytes()[:40] + b"\x00" + path.read_bytes()[41:])  # a stray byte
    with pytest.raises(UserError, match="results.json is damaged .*git checkout"):
        reference.data_hashes()
    assert cli.train_main(["dnn", "--profile", "smoke", "--data", str(faces.source), "--run-dir",
                       str(tmp_path / "here")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("fer_utils.train: ") and "results.json is damaged" in err[-1]
    assert "other data" not in "".join(err)


def test_the_compact_form_is_smaller_and_loads_as_float32(tmp_path):
    from fer_utils import models

    net = models.build_dnn(seed=0)
    net.save(tmp_path / "plain.keras")
    reference.save_compact(net, tmp_path / "compact.keras")
    assert (tmp_path / "compact.keras").stat().st_size < 0.6 * (tmp_path / "plain.keras").stat().st_size
    loaded = models.keras.models.load_model(tmp_path / "compact.keras", compile=False)
    for mine, theirs in zip(net.get_weights(), loaded.get_weights()):
        assert theirs.dtype == np.float32
        np.testing.assert_allclose(theirs, mine.astype(np.float16).astype(np.float32))
    x = np.random.default_rng(0).uniform(-1, 1, (8, 48, 48, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), net.predict(x, verbose=0), atol=1e-2)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".partial-")]


def test_the_training_cli_prints_the_expected_time_before_training(faces, tmp_path, monkeypatch, capsys):
    measured = []
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))  # no speeds known yet
    monkeypatch.setattr(speed, "_measure", lambda *a: measured.append(a) or {"train": 1000.0, "predict": 5000.0})
    argv = ["dnn", "--profile", "smoke", "--data", str(faces.source), "--run-dir", str(tmp_path / "run"),
            "--epochs", "2"]
    assert cli.train_main(argv) == 0
    out = capsys.readouterr().out
    assert "dnn on this machine: under a minute for epochs 1-2; every training of smoke from scratch: " in out
    assert out.index("on this machine") < out.index("dnn: 2 epochs")  # before the training's own summary line
    assert len(measured) == len({speed.network(n) for n in speed.registry.MODELS})  # each network timed once
    assert cli.train_main(argv) == 0 and "on this machine" not in capsys.readouterr().out  # nothing left to train


def test_speeds_are_measured_once_per_machine(tmp_path):
    cache = tmp_path / speed.SPEED_FILE
    first = speed.images_per_second("dnn", 16, cache=cache)
    assert first["train"] > 0 and first["predict"] > 0
    assert speed.images_per_second("dnn", 16, cache=cache) == first
    assert list(json.loads(cache.read_text())) == [speed.machine()]
    assert speed.training_seconds("dnn", epochs=4, n_train=1600, n_val=160, batch_size=16, done=2) > 0
    assert [speed.about(s) for s in (30, 720, 9000, 40000)] == ["under a minute", "about 12 min", "about 2.5 h",
                                                              "about 11 h"]


def test_xla_is_never_the_automatic_choice_under_tensorflow_on_a_cpu(monkeypatch):
    import keras

    monkeypatch.setattr(runtime, "devices", lambda: ["CPU"])
    expected = False if keras.backend.backend() == "tensorflow" else "auto"
    assert runtime.resolved_jit_compile("auto") == expected
    monkeypatch.setattr(runtime, "devices", lambda: ["GPU:0 NVIDIA H200"])
    assert runtime.resolved_jit_compile("auto") == "auto"
    assert runtime.resolved_jit_compile(True) is True and runtime.resolved_jit_compile(False) is False


JAX_AUGMENTATION = """
import json
import jax, numpy as np
from fer_utils import models, runtime
model = runtime.set_jit_compile(models.build_cnn(augment=True, seed=1))
augmentation = model.get_layer("augmentation")
x = np.random.default_rng(0).uniform(-1, 1, (8, 48, 48, 1)).astype("float32")
def augment(state, faces):
    return augmentation.stateless_call([], state, faces, training=True)
state = [v.value for v in augmentation.non_trainable_variables]
eager, _ = augment(state, x)
first, state = jax.jit(augment)(state, x)
second, _ = jax.jit(augment)(state, x)
gap = lambda a, b: float(np.abs(np.asarray(a) - np.asarray(b)).max())
print(json.dumps({"jit": model.jit_compile, "eager": gap(first, eager), "next": gap(first, second), "face": gap(first, x)}))
"""


def test_the_augmented_cnn_compiles_under_jax_with_the_same_augmentation():
    """Keras marks its random affine layers unfit for XLA; under JAX the training step compiles anyway (or it runs
    op by op), and compiled, the augmentation draws what it draws uncompiled, afresh at each step."""
    pytest.importorskip("jax")
    out = subprocess.run([sys.executable, "-c", JAX_AUGMENTATION], env={**os.environ, "KERAS_BACKEND": "jax"},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["jit"] is True and result["eager"] < 1e-4
    assert result["next"] > 0.1 and result["face"] > 0.1  # the next step draws other shifts; the face is moved


def test_tensorflow_keeps_xla_off_on_a_cpu_for_every_model(monkeypatch):
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's choice")
    monkeypatch.setattr(runtime, "devices", lambda: ["CPU"])
    from fer_utils import models

    assert runtime.set_jit_compile(models.build_cnn(augment=True, seed=1)).jit_compile is False


def test_onednn_is_turned_on_for_x86_unless_the_user_chose():
    for machine, given, expected in (("x86_64", {}, "1"), ("AMD64", {}, "1"), ("x86_64", {"TF_ENABLE_ONEDNN_OPTS": "0"}, "0"),
                                     ("aarch64", {}, None)):
        environ = dict(given)
        fer_utils.prefer_onednn(environ, machine)
        assert environ.get("TF_ENABLE_ONEDNN_OPTS") == expected


@pytest.mark.skipif(not fer_utils.platform.machine().lower() in ("x86_64", "amd64"), reason="oneDNN is x86's")
def test_tensorflow_runs_with_onednn_after_the_package_is_imported():
    pytest.importorskip("tensorflow")
    code = ("import fer_utils, tensorflow\nfrom tensorflow.python.util import _pywrap_util_port as port\n"
            "print(port.IsMklEnabled())")
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "True", out.stderr[-2000:]


def test_jax_compiles_into_the_users_cache_folder_unless_the_user_chose(tmp_path):
    """After the package is imported, JAX keeps every compilation in user_cache_dir()/jax: a second process
    compiling the same function finds it there. A cache folder the user set is kept."""
    pytest.importorskip("jax")
    environ = {"JAX_COMPILATION_CACHE_DIR": "/mine"}
    fer_utils.prefer_jax_compilation_cache(environ)
    assert environ == {"JAX_COMPILATION_CACHE_DIR": "/mine"}
    code = ("import fer_utils, jax, jax.numpy as jnp\nprint(jax.jit(lambda x: jnp.sin(x) * 2)(jnp.ones(3)).sum())")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("JAX_")}, "XDG_CACHE_HOME": str(tmp_path)}
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
    entries = list((tmp_path / "fer_utils" / "jax").iterdir())
    assert entries and len(entries) == len({p.name for p in entries})
