"""Notebook set-up: the run folder's layout, seeds and determinism, logging, and a version banner.
Every notebook's setup cell calls `setup_run` and gets the paths it reads and writes."""

from __future__ import annotations

import logging
import os
import platform
import random
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from . import plots


@dataclass(frozen=True)
class RunPaths:
    """Where one run keeps its artifacts: figures, models and training histories under `root`."""

    root: Path

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def histories(self) -> Path:
        return self.root / "histories"

    @property
    def preprocessing(self) -> Path:
        return self.models / "preprocessing.npz"

    def require(self, path: Path, notebook: str) -> Path:
        """`path` if an earlier notebook wrote it, else FileNotFoundError naming that notebook."""
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run notebook {notebook} with run_dir={self.root} first")
        return path


def setup_run(run_dir: str | os.PathLike, seed: int, *, keras: bool = False) -> RunPaths:
    """Create the run folders, seed Python/numpy (and Keras with deterministic ops), set logging and plot style."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    run = RunPaths(Path(run_dir).expanduser().resolve())
    for folder in (run.root, run.figures, run.models, run.histories):
        folder.mkdir(parents=True, exist_ok=True)
    random.seed(seed)
    np.random.seed(seed)
    if keras:
        _seed_keras(seed)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr,
                        force=True)
    plots.set_style()
    return run


def _seed_keras(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


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
