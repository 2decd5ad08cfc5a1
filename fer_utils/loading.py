"""A run's trained models and their histories, loaded for reading (inference, figures, publishing): what predict,
publish and the notebooks' session need, without the training engine."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from . import registry, runtime
from .paths import RunPaths
from .history import HISTORY_FILE, best_epoch_of, best_model, read_history


def load_history(run_dir: str | os.PathLike, name: str) -> pd.DataFrame:
    """The history of model `name` in a run; an error naming the notebook that trains it if missing."""
    return read_history(trained_folder(run_dir, name))


def load_best(run_dir: str | os.PathLike, name: str):
    """The best-on-val model of `name` in a run (for inference); an error naming its notebook if missing."""
    folder = trained_folder(run_dir, name)
    return inference_model(folder, best_epoch_of(read_history(folder)))


def inference_model(folder: Path, epoch: int):
    """The model saved at `epoch` in a training folder, loaded for inference with this backend's XLA choice."""
    runtime.import_keras_quietly()
    import keras

    return runtime.set_jit_compile(keras.models.load_model(best_model(folder, epoch), compile=False))


def trained_folder(run_dir: str | os.PathLike, name: str) -> Path:
    """The training folder of model `name` in a run; an error naming its notebook where it holds no history."""
    folder = RunPaths(Path(run_dir).expanduser().resolve()).model(name)
    if not (folder / HISTORY_FILE).exists():
        raise FileNotFoundError(f"{folder / HISTORY_FILE} is missing: run notebook {registry.trained(name)[0].notebook} "
                                f"first with the same run_dir")
    return folder
