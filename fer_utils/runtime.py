"""The runtime a run computes in: seeds and determinism, a quiet Keras import, the backend's devices, logging,
and a banner with versions and devices. No plotting or notebook packages are imported here."""

from __future__ import annotations

import importlib.util
import logging
import os
import platform
import random
import sys
from importlib import metadata

import numpy as np

from .config import shown_path


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
    lines ignore TF_CPP_MIN_LOG_LEVEL and would fill notebooks and reports. TensorFlow is imported here under
    every backend where it is installed, since Keras' data pipeline loads it anyway. `devices()` says what
    was found."""
    if "keras" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import keras

            if importlib.util.find_spec("tensorflow") is not None:
                import tensorflow as tf

                tf.config.list_physical_devices()
            if keras.backend.backend() == "jax":
                import jax

                jax.devices()
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


def setup_logging(fmt: str = "%(levelname)s %(name)s: %(message)s") -> None:
    """Log lines (INFO and up) to stderr, where notebooks keep them apart from results."""
    logging.basicConfig(level=logging.INFO, format=fmt, datefmt="%H:%M:%S", stream=sys.stderr, force=True)


def banner(profile: str, run_dir: str | os.PathLike) -> str:
    """What a notebook states first: profile, run folder, library versions, and the Keras backend's devices
    when Keras is loaded."""
    lines = [f"profile {profile}; run folder {shown_path(run_dir)}",
             ", ".join(f"{name} {version}" for name, version in versions().items())]
    if "keras" in sys.modules:
        import keras

        lines.append(f"Keras backend {keras.backend.backend()} on {', '.join(devices())}")
    return "\n".join(lines)


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
