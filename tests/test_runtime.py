"""The runtime: bfloat16 only where the device has it, a GPU the backend cannot see is warned about, and
TensorFlow's retracing hints are dropped from its log."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("keras")

from fer_utils import runtime, train  # noqa: E402


def test_auto_precision_is_bfloat16_only_where_the_device_has_it(monkeypatch):
    from fer_utils import settings

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


def test_a_gpu_the_backend_cannot_see_is_warned_about(monkeypatch):
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
    runtime.import_keras_quietly()
    logger = logging.getLogger("tensorflow")
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        logger.warning("6 out of the last 10 calls to <function f> triggered tf.function retracing. Tracing is ...")
        logger.warning("a warning that matters")
    assert [r.getMessage() for r in caplog.records] == ["a warning that matters"]
