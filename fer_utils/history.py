"""A training folder as the training engine writes it: its history of epochs 1..n (the commit point of each
epoch), the best epoch on val, and the names of its checkpoints and best model."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .errors import UserError

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")
HISTORY_FILE = "history.csv"


class TrainingMismatch(UserError):
    """A training folder whose history is not one this engine wrote."""


def read_history(folder: str | os.PathLike) -> pd.DataFrame:
    """The history CSV of a training folder (empty if none), checked to hold epochs 1..n once each."""
    path = Path(folder) / HISTORY_FILE
    if not path.exists():
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    return history_csv(path)


def history_csv(path: str | os.PathLike) -> pd.DataFrame:
    """A history CSV file (a training folder's, or one committed with a reference run), checked."""
    try:
        history = pd.read_csv(path)
    except (OSError, ValueError) as e:
        raise TrainingMismatch(f"{path}: not a readable history ({e})") from None
    if list(history.columns) != list(HISTORY_COLUMNS) or list(history["epoch"]) != list(range(1, len(history) + 1)):
        raise TrainingMismatch(f"{path}: not a history of epochs 1..n with columns {', '.join(HISTORY_COLUMNS)}")
    return history


def best_epoch_of(history: pd.DataFrame) -> int:
    """The epoch with the highest val accuracy (the first of equals)."""
    return int(history.loc[history["val_accuracy"].idxmax(), "epoch"])


def checkpoint(folder: Path, epoch: int) -> Path:
    """The checkpoint (model and optimizer state) after `epoch`."""
    return folder / f"checkpoint-epoch{epoch:04d}.keras"


def best_model(folder: Path, epoch: int) -> Path:
    """The best model on val, saved at `epoch` (uncompiled, for inference)."""
    return folder / f"best-epoch{epoch:04d}.keras"


def epoch_of(path: Path) -> int:
    return int(path.stem.rsplit("epoch", 1)[1])
