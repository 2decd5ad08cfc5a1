"""The runtime a run computes in: seeds and determinism, a quiet Keras import, the backend's devices and a line
about them, the precision, XLA and distribution a model computes with, logging, and the library versions a run
states (the notebooks' banner itself is `fer_utils.session.Run.banner`). No plotting or notebook packages."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import random
import sys
from importlib import metadata

import numpy as np

from .errors import UserError


PRECISIONS = {False: "float32", True: "mixed_float16", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


def seed_everything(seed: int, keras: bool = True) -> None:
    """Seed Python and numpy, and with `keras` the Keras backend too, with TensorFlow's ops made deterministic."""
    random.seed(seed)
    np.random.seed(seed)
    if not keras:
        return
    import_keras_quietly()
    import keras as keras_module

    keras_module.utils.set_random_seed(seed)
    if keras_module.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def import_keras_quietly() -> None:
    """Import Keras and start its backend's devices with file descriptor 2 muted: TensorFlow's C++ start-up
    lines ignore TF_CPP_MIN_LOG_LEVEL and would fill notebooks and reports. Under another backend TensorFlow is
    not imported at all (Keras on JAX trains and predicts from numpy arrays without it, 1.5 s saved per
    process). TensorFlow's tf.function retracing hints are dropped from its log. `devices()` says what was
    found."""
    tensorflow = logging.getLogger("tensorflow")
    if _retracing_hint not in tensorflow.filters:
        tensorflow.addFilter(_retracing_hint)
    if "keras" in sys.modules:
        return
    with quiet_stderr():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()
        elif keras.backend.backend() == "jax":
            import jax

            jax.devices()


def _retracing_hint(record: logging.LogRecord) -> bool:
    """False for TensorFlow's tf.function retracing hint: meant for developers, and counted over every model of a
    process (predict loads one per command, a test process many), each traced once per input shape by design."""
    return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def quiet_stderr():
    """File descriptor 2 muted inside (C++ libraries' start-up lines, which Python's logging cannot reach)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def devices() -> list[str]:
    """The devices the Keras backend computes on, e.g. ['CPU'] or ['GPU:0 NVIDIA H200']."""
    import_keras_quietly()
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return [f"GPU:{i} {tf.config.experimental.get_device_details(g).get('device_name', '')}".strip()
                for i, g in enumerate(gpus)] or ["CPU"]
    if backend == "jax":
        import jax

        return [f"{d.platform.upper()}:{d.id} {getattr(d, 'device_kind', '')}".strip() for d in jax.devices()]
    if backend == "torch":
        import torch

        return [f"GPU:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())] or ["CPU"]
    return [backend]


def machine_gpus() -> list[str]:
    """The NVIDIA GPUs the machine has, whatever the backend sees: the driver's /proc entries (Linux)."""
    folder = "/proc/driver/nvidia/gpus"
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


def device_report() -> tuple[str, str | None]:
    """What a run computes on ("Keras backend jax on GPU:0 NVIDIA H200") and a warning when the machine has a
    GPU that the backend does not see (a CPU-only TensorFlow or jaxlib, or CUDA libraries it cannot load)."""
    import_keras_quietly()
    import keras

    seen, backend = devices(), keras.backend.backend()
    warning = None
    if machine_gpus() and not any(d.startswith("GPU") for d in seen):
        warning = (f"the machine has {len(machine_gpus())} NVIDIA GPU(s) but Keras' {backend} backend sees only "
                   f"{', '.join(seen)}: install the backend's CUDA build (pip install -e '.[gpu]' for TensorFlow, "
                   f"jax[cuda12] for JAX; see README, Backends and GPUs)")
    return f"Keras backend {backend} on {', '.join(seen)}", warning


def native_bfloat16() -> bool:
    """Whether the Keras backend's device computes bfloat16 natively: a GPU of compute capability 8.0 or later,
    or (no GPU) a CPU with AVX-512 BF16 or AMX. Elsewhere bfloat16 is emulated and slower than float32."""
    gpu = [d for d in devices() if d.startswith("GPU")]
    if gpu:
        return _gpu_capability() >= (8, 0)
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _gpu_capability() -> tuple[int, int]:
    """The first GPU's compute capability as the backend reports it ((0, 0) when it says nothing)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
        return tuple(details.get("compute_capability", (0, 0)))
    if keras.backend.backend() == "jax":
        import jax

        major, _, minor = str(getattr(jax.devices()[0], "compute_capability", "0.0")).partition(".")
        return int(major or 0), int(minor or 0)
    return (0, 0)


def resolved_precision(mixed_precision: bool | str):
    """`mixed_precision` with "auto" decided for this machine: "bfloat16" where the backend's device computes
    it natively (`native_bfloat16`), else False (float32)."""
    if mixed_precision == "auto":
        chosen = "bfloat16" if native_bfloat16() else False
        logging.getLogger(__name__).info("mixed precision auto: %s", chosen or "float32")
        return chosen
    return mixed_precision


@contextlib.contextmanager
def compute_scope(mixed_precision: bool | str = False, distribute: str = "none"):
    """Build and train inside this: with `mixed_precision` float16 (True or "float16", GPUs) or "bfloat16" (GPUs
    and CPUs with AVX-512 BF16) compute with float32 weights, and with `distribute="data_parallel"` each batch
    split over every device of the backend (Keras' DataParallel distribution on JAX, MirroredStrategy on
    TensorFlow). Yields the number of replicas."""
    if distribute not in ("none", "data_parallel"):
        raise UserError(f"distribute must be 'none' or 'data_parallel', got {distribute!r}")
    mixed_precision = resolved_precision(mixed_precision)
    if mixed_precision not in PRECISIONS:
        raise UserError(f"mixed_precision must be false, true, 'float16', 'bfloat16' or 'auto', "
                         f"got {mixed_precision!r}")
    import_keras_quietly()
    import keras

    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(PRECISIONS[mixed_precision])
    backend = keras.backend.backend()
    try:
        if distribute == "none":
            yield 1
        elif backend == "jax":
            previous = keras.distribution.distribution()
            devices = keras.distribution.list_devices()
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
            try:
                yield len(devices)
            finally:
                keras.distribution.set_distribution(previous)
        elif backend == "tensorflow":
            import tensorflow as tf

            devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
            strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
            with strategy.scope():
                yield strategy.num_replicas_in_sync
        else:
            raise UserError(f"data-parallel training needs the jax or tensorflow backend, not {backend}")
    finally:
        keras.config.set_dtype_policy(policy)


def resolved_jit_compile(jit_compile):
    """`jit_compile` with "auto" decided for this machine: False (no XLA) under TensorFlow on a machine without
    a GPU, where XLA trains the report's CNN about 4x slower than TensorFlow's own kernels; elsewhere "auto",
    Keras' choice (XLA on a GPU; the JAX backend always compiles with XLA)."""
    if jit_compile != "auto":
        return bool(jit_compile)
    import_keras_quietly()
    import keras

    if keras.backend.backend() == "tensorflow" and not any(d.startswith("GPU") for d in devices()):
        return False
    return "auto"


def set_jit_compile(model, jit_compile="auto"):
    """Give `model` the XLA choice `resolved_jit_compile` makes of `jit_compile`, and return it. Under JAX "auto"
    compiles: Keras marks its random affine layers unfit for XLA (for TensorFlow's sake), which under JAX would
    leave the whole training and prediction step running op by op, about 2x slower on a CPU and far slower on a
    GPU, while the layers compile there to the same augmentation."""
    jit = resolved_jit_compile(jit_compile)
    import keras

    if jit == "auto" and keras.backend.backend() == "jax":
        for layer in _layers(model):
            if isinstance(layer, (keras.layers.RandomRotation, keras.layers.RandomTranslation, keras.layers.RandomZoom)):
                layer.supports_jit = True
        jit = True
    if jit != "auto":
        model.jit_compile = jit
    return model


def _layers(layer):
    """`layer` and every layer nested in it."""
    yield layer
    for inner in getattr(layer, "layers", []):
        yield from _layers(inner)


class _CurrentStderr(logging.StreamHandler):
    """A handler writing to whatever sys.stderr is when a line is logged (a kernel's, a test's capture), never to
    a stream that was replaced and closed since."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def setup_logging(fmt: str = "%(levelname)s %(name)s: %(message)s") -> None:
    """Log lines (INFO and up) to stderr, where notebooks keep them apart from results. TensorFlow's logger loses
    the handler it gives itself in an interactive session (which prints to stdout, among a notebook's results,
    warnings such as tf.function retracing whose count depends on what ran before); its lines come here."""
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter(fmt, datefmt="%H:%M:%S"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    tensorflow = logging.getLogger("tensorflow")
    for own in list(tensorflow.handlers):
        tensorflow.removeHandler(own)
    tensorflow.propagate = True


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape the results (those installed)."""
    found = {"python": platform.python_version()}
    for package in ("fer-utils", "numpy", "pandas", "scikit-learn", "matplotlib", "keras", "tensorflow", "jax",
                    "torch"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found
