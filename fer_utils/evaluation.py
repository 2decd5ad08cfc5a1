"""How good a trained model is: accuracy and log-loss of its outputs averaged over each test-time view set
(`fer_utils.views`), the view set chosen on val alone, per-class precision, recall and F1, and the confusion
matrix with what it shows."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, precision_recall_fscore_support

from .labels import CLASS_NAMES
from .views import predict_views, probabilities, views_of

def evaluate(model, x: np.ndarray, y: np.ndarray, view_sets=("plain", "mirror"), scores: bool = False
             ) -> tuple[dict, dict[str, np.ndarray]]:
    """On one split: accuracy plain and flip-averaged, per-class recall (plain), and for each of `view_sets`
    the accuracy and log-loss of the outputs averaged over its views. Each distinct view is predicted once.
    Returns the record and, per view set, the averaged outputs."""
    names = list(dict.fromkeys(["plain", "mirror", *view_sets]))
    distinct = list(dict.fromkeys(v for n in names for v in views_of(n)))
    predicted = predict_views(model, x, distinct)
    averaged = {n: predicted[[distinct.index(v) for v in views_of(n)]].mean(axis=0) for n in names}
    record = {"accuracy": float(accuracy_score(y, averaged["plain"].argmax(1))),
              "flip_accuracy": float(accuracy_score(y, averaged["mirror"].argmax(1))),
              "per_class": per_class_metrics(y, averaged["plain"].argmax(1))["recall"].to_dict(),
              "view_sets": {n: float(accuracy_score(y, averaged[n].argmax(1))) for n in view_sets},
              "view_set_log_loss": {n: float(log_loss(y, probabilities(averaged[n], scores),
                                                      labels=range(len(CLASS_NAMES)))) for n in view_sets}}
    return record, averaged


def choose_views(val_record: dict) -> str:
    """The view set of a val record (`evaluate`) to score test with: the highest val accuracy; among equal ones
    the lower val log-loss, then the fewer views. Val only."""
    accuracy, loss = val_record["view_sets"], val_record["view_set_log_loss"]
    return min(accuracy, key=lambda n: (-accuracy[n], loss[n], len(views_of(n))))


def evaluate_splits(model, x: dict[str, np.ndarray], y: dict[str, np.ndarray], view_sets, scores: bool = False
                    ) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """Val over every one of `view_sets`, the set chosen on val alone (`choose_views`), then test once with it
    (and plain and mirrored). Each split's record names the chosen `views` and their `views_accuracy`; the second
    value holds each split's outputs averaged over the chosen views (what an ensemble combines)."""
    val, val_outputs = evaluate(model, x["val"], y["val"], view_sets, scores)
    chosen = choose_views(val)
    records = {"val": {**val, "views": chosen, "views_accuracy": val["view_sets"][chosen]}}
    outputs = {"val": val_outputs[chosen]}
    if "test" in x:
        test, test_outputs = evaluate(model, x["test"], y["test"], [chosen], scores)
        records["test"] = {**test, "views": chosen, "views_accuracy": test["view_sets"][chosen]}
        outputs["test"] = test_outputs[chosen]
    return records, outputs


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
