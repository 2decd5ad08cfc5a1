"""How good a trained model is: its outputs averaged over test-time views (the face, its mirror image, shifted
crops), accuracy, per-class precision, recall and F1, and the confusion matrix with what it shows."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from .data import CLASS_NAMES

# Test-time views as pixel shifts (dy, dx) and a mirror flag: the face, its mirror, then shifts that move a
# 42x42 centre crop (DLSVM's) to the corners, plain and mirrored. The first two are the flip average.
VIEWS = [(0, 0, False), (0, 0, True), (-3, -3, False), (-3, 3, False), (3, -3, False), (3, 3, False),
         (-3, -3, True), (-3, 3, True), (3, -3, True), (3, 3, True)]
FLIP = 2  # views averaged for "flip-averaged"
EVAL_BATCH = 512  # faces per prediction call (inference only, so the batch changes no number)


def views(x: np.ndarray, count: int):
    """The first `count` (1-10) VIEWS of faces (N, 48, 48, 1). A shift wraps only pixels a centre crop drops."""
    if not 1 <= count <= len(VIEWS):
        raise ValueError(f"test views must be between 1 and {len(VIEWS)}, got {count}")
    for dy, dx, mirror in VIEWS[:count]:
        view = np.roll(x, (-dy, -dx), axis=(1, 2)) if dy or dx else x
        yield view[:, :, ::-1, :] if mirror else view


def predict_views(model, x: np.ndarray, count: int, batch_size: int = EVAL_BATCH) -> np.ndarray:
    """The model's outputs (probabilities or SVM scores) for each of the first `count` views: (count, N, classes)."""
    return np.stack([np.asarray(model.predict(v, batch_size=batch_size, verbose=0), dtype=np.float32)
                     for v in views(x, count)])


def predict_proba(model, x: np.ndarray, flip: bool = False) -> np.ndarray:
    """Class outputs; with `flip`, the average over each face and its mirror image."""
    return predict_views(model, x, FLIP if flip else 1).mean(axis=0)


def evaluate(model, x: np.ndarray, y: np.ndarray, crops: int = 0) -> dict:
    """On one split: accuracy plain and flip-averaged, per-class recall, and with `crops`, the accuracy of the
    outputs averaged over that many views. Each view is predicted once."""
    outputs = predict_views(model, x, max(FLIP, crops))
    plain = outputs[0].argmax(1)
    results = {"accuracy": float(accuracy_score(y, plain)),
               "flip_accuracy": float(accuracy_score(y, outputs[:FLIP].mean(axis=0).argmax(1))),
               "per_class": per_class_metrics(y, plain)["recall"].to_dict()}
    if crops:
        results["crops"] = crops
        results["crop_accuracy"] = float(accuracy_score(y, outputs[:crops].mean(axis=0).argmax(1)))
    return results


def per_class_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """Precision, recall, F1 and support per class (scikit-learn) as a DataFrame."""
    p, r, f, n = precision_recall_fscore_support(y_true, y_pred, labels=range(len(CLASS_NAMES)), zero_division=0)
    return pd.DataFrame({"precision": p, "recall": r, "F1": f, "faces": n},
                        index=pd.Index(CLASS_NAMES, name="class")).astype({"precision": float, "recall": float})


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """Row-normalised confusion matrix (true class x predicted class, rows sum to 1) as a DataFrame."""
    matrix = confusion_matrix(y_true, y_pred, labels=range(len(CLASS_NAMES)), normalize="true")
    return pd.DataFrame(matrix, index=pd.Index(CLASS_NAMES, name="true"),
                        columns=pd.Index(CLASS_NAMES, name="predicted"))


def confusion_observations(matrix: pd.DataFrame) -> dict:
    """The easiest and hardest class (diagonal) and the largest confusion (off-diagonal) of `confusion`."""
    values = matrix.to_numpy().copy()
    diagonal = np.diag(values).copy()
    np.fill_diagonal(values, -1)
    true, predicted = np.unravel_index(values.argmax(), values.shape)
    names = list(matrix.index)
    return {"easiest": names[diagonal.argmax()], "easiest_recall": float(diagonal.max()),
            "hardest": names[diagonal.argmin()], "hardest_recall": float(diagonal.min()),
            "confused_true": names[true], "confused_predicted": names[predicted],
            "confused_share": float(values[true, predicted])}
