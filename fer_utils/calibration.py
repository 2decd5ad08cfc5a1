"""Whether a model's probabilities mean what they say: the temperature that makes them so on val (PublicTest)
alone (temperature scaling, Guo et al. 2017: one number per model, fitted by minimising val log-loss with scipy),
the expected calibration error (ECE: over bins of the top probability, the faces' share times the gap between the
bin's mean top probability and its accuracy) and the reliability diagram's bins, on test before and after."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.metrics import log_loss

from . import views
from .labels import CLASS_NAMES

BINS = 15  # equal-width bins of the top probability
TEMPERATURES = (0.05, 20.0)  # the range searched


def fit_temperature(val_outputs: np.ndarray, y_val: np.ndarray, scores: bool = False) -> float:
    """The temperature that minimises the val log-loss of a model's outputs (probabilities, or SVM `scores`)."""
    labels = range(len(CLASS_NAMES))

    def loss(log_t: float) -> float:
        return log_loss(y_val, views.probabilities(val_outputs, scores, float(np.exp(log_t))), labels=labels)

    found = minimize_scalar(loss, bounds=tuple(np.log(TEMPERATURES)), method="bounded",
                            options={"xatol": 1e-4})
    return float(np.exp(found.x))


def reliability(probabilities: np.ndarray, y: np.ndarray, bins: int = BINS) -> dict[str, np.ndarray]:
    """The reliability diagram's bins of the top probability (equal width over 0-1): per bin its faces, mean top
    probability (confidence) and accuracy (NaN where a bin is empty)."""
    top, right = probabilities.max(axis=1), probabilities.argmax(axis=1) == np.asarray(y)
    which = np.clip(np.digitize(top, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    faces = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(which, weights=top, minlength=bins) / faces
        accuracy = np.bincount(which, weights=right, minlength=bins) / faces
    return {"faces": faces, "confidence": confidence, "accuracy": accuracy}


def expected_calibration_error(probabilities: np.ndarray, y: np.ndarray, bins: int = BINS) -> float:
    """ECE: the faces' share of each bin times |accuracy - mean top probability| in it, summed."""
    r = reliability(probabilities, y, bins)
    used = r["faces"] > 0
    return float(np.sum(r["faces"][used] / r["faces"].sum() * np.abs(r["accuracy"][used] - r["confidence"][used])))


def calibrate(val_outputs: np.ndarray, y_val: np.ndarray, test_outputs: np.ndarray | None = None,
              y_test: np.ndarray | None = None, scores: bool = False) -> dict:
    """A model's calibration record: its temperature fitted on val, and ECE and log-loss before and after on val
    and (when given) test."""
    temperature, classes = fit_temperature(val_outputs, y_val, scores), range(len(CLASS_NAMES))
    record = {"temperature": temperature, "bins": BINS}
    for split, outputs, y in (("val", val_outputs, y_val), ("test", test_outputs, y_test)):
        if outputs is None:
            continue
        before, after = views.probabilities(outputs, scores), views.probabilities(outputs, scores, temperature)
        record[split] = {"ece": expected_calibration_error(before, y), "ece_calibrated":
                         expected_calibration_error(after, y), "log_loss": float(log_loss(y, before, labels=classes)),
                         "log_loss_calibrated": float(log_loss(y, after, labels=classes)), "faces": int(len(y))}
    return record
