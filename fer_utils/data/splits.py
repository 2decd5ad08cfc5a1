"""FER2013's three splits: train, val (PublicTest) and test (PrivateTest), a validation split carved from training
where the source has none, and stratified subsets for the small profiles."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ..labels import CLASS_NAMES, SPLITS
from .forms import DataError

log = logging.getLogger("fer_utils.data")

CARVE_FRACTION = 0.1
CARVE_SEED = 2013


@dataclass(frozen=True)
class Split:
    """Faces of one split: images uint8 (N, 48, 48) and labels int64 (N,)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class FER2013:
    """The three splits of one source; a split the source does not have is None."""

    train: Split
    val: Split | None
    test: Split | None
    source: Path
    val_carved: bool = False

    def splits(self) -> dict[str, Split]:
        """The present splits by name, in train/val/test order."""
        return {name: s for name in SPLITS if (s := getattr(self, name)) is not None}


def subsample(split: Split | None, n: int, seed: int) -> Split | None:
    """A stratified subset of `n` faces (all of them when n <= 0 or n >= len), in source order."""
    if split is None or n <= 0 or n >= len(split):
        return split
    keep, _ = train_test_split(np.arange(len(split)), train_size=n, random_state=seed,
                               stratify=_stratify_labels(split.labels, n))
    keep = np.sort(keep)
    return Split(split.images[keep], split.labels[keep])


def limit(ds: FER2013, train_limit: int, eval_limit: int, seed: int) -> FER2013:
    """`ds` with at most `train_limit` training and `eval_limit` val/test faces (stratified; 0 keeps all)."""
    return dataclasses.replace(ds, train=subsample(ds.train, train_limit, seed),
                               val=subsample(ds.val, eval_limit, seed), test=subsample(ds.test, eval_limit, seed))


def class_counts(ds: FER2013) -> pd.DataFrame:
    """A split x class table of face counts with a total column and row."""
    rows = {name: np.bincount(s.labels, minlength=len(CLASS_NAMES)) for name, s in ds.splits().items()}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(CLASS_NAMES))
    table["total"] = table.sum(axis=1)
    table.loc["all"] = table.sum(axis=0)
    return table


def assemble(images: np.ndarray, labels: np.ndarray, usage: np.ndarray | None, path: Path) -> FER2013:
    """Split by usage; where there is no PublicTest (no usage at all, or no such rows), carve a stratified
    validation split from training."""
    if usage is None:
        usage = np.full(len(labels), "train")
        why = "has no usage information"
    else:
        why = "has no PublicTest faces"
    parts = {name: Split(images[usage == name], labels[usage == name]) for name in SPLITS}
    if len(parts["train"]) == 0:
        raise DataError(f"{path}: no Training faces")
    test = parts["test"] if len(parts["test"]) else None
    if len(parts["val"]):
        return FER2013(parts["train"], parts["val"], test, source=path)
    train = parts["train"]
    if len(train) < 2:
        raise DataError(f"{path}: {len(train)} Training face{'s' if len(train) != 1 else ''} and no PublicTest "
                        f"faces: too few to carve a validation split from (FER2013 has 28,709)")
    n_val = math.ceil(len(train) * CARVE_FRACTION)
    train_idx, val_idx = train_test_split(np.arange(len(train)), test_size=n_val, random_state=CARVE_SEED,
                                          stratify=_stratify_labels(train.labels, n_val))
    train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
    log.warning("%s %s: carved a stratified %d%% validation split (%d faces, seed %d) from its %d training "
                "faces; test is %s", path, why, round(CARVE_FRACTION * 100), len(val_idx), CARVE_SEED,
                len(train), "None" if test is None else f"its {len(test)} PrivateTest faces")
    return FER2013(Split(train.images[train_idx], train.labels[train_idx]),
                   Split(train.images[val_idx], train.labels[val_idx]), test, source=path, val_carved=True)


def _stratify_labels(labels: np.ndarray, n_small: int) -> np.ndarray | None:
    """Labels to stratify on, or None where a class is too rare for scikit-learn's stratified split."""
    counts = np.bincount(labels)
    return labels if counts[counts > 0].min() >= 2 and n_small >= np.count_nonzero(counts) else None
