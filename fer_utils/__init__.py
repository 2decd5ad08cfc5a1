"""FER2013 report series utilities.

Importing the package turns on TensorFlow's oneDNN kernels on x86 CPUs, where TensorFlow leaves them off unless
the CPU has AVX-512 (on an AVX2-only CPU they train the report's CNN 1.4-2x faster; benchmarks/train_throughput.py
measures it). It has to happen before TensorFlow is imported, so it happens here, first thing for every entry
point (CLI, notebooks, tests, benchmarks); a TF_ENABLE_ONEDNN_OPTS the user has set is left as it is.

It also gives JAX, before it is imported, a persistent compilation cache in the user's cache folder, kept for
every compilation however short (Keras on JAX compiles many small ones): a notebook run again, or a model
trained again at the same shapes, starts from the compiled code (nbval's re-run of the JAX smoke series takes
half the time). The folder only grows (7.5 MB after `make test`); deleting it is always safe. A
JAX_COMPILATION_CACHE_DIR the user has set is left as it is.
"""

import os
import platform
from pathlib import Path


def user_cache_dir() -> Path:
    """The user's cache folder for the package: (XDG_CACHE_HOME or ~/.cache)/fer_utils."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fer_utils"


def prefer_onednn(environ=os.environ, machine: str = platform.machine()) -> None:
    """Set TF_ENABLE_ONEDNN_OPTS=1 in `environ` on an x86 machine, unless it is set already."""
    if machine.lower() in ("x86_64", "amd64", "x86", "i386", "i686"):
        environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def prefer_jax_compilation_cache(environ=os.environ) -> None:
    """Point JAX's persistent compilation cache at user_cache_dir()/jax in `environ`, caching every compilation,
    unless a cache folder is set already."""
    if "JAX_COMPILATION_CACHE_DIR" not in environ:
        environ["JAX_COMPILATION_CACHE_DIR"] = str(user_cache_dir() / "jax")
        environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


prefer_onednn()
prefer_jax_compilation_cache()
