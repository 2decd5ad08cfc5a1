"""FER2013 report series utilities.

Importing the package turns on TensorFlow's oneDNN kernels on x86 CPUs, where TensorFlow leaves them off unless
the CPU has AVX-512 (on an AVX2-only CPU they train the report's CNN 1.4-2x faster; benchmarks/train_throughput.py
measures it). It has to happen before TensorFlow is imported, so it happens here, first thing for every entry
point (CLI, notebooks, tests, benchmarks); a TF_ENABLE_ONEDNN_OPTS the user has set is left as it is.
"""

import os
import platform


def prefer_onednn(environ=os.environ, machine: str = platform.machine()) -> None:
    """Set TF_ENABLE_ONEDNN_OPTS=1 in `environ` on an x86 machine, unless it is set already."""
    if machine.lower() in ("x86_64", "amd64", "x86", "i386", "i686"):
        environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


prefer_onednn()
