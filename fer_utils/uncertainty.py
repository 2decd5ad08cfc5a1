"""How sure a number is: the 95% interval of an accuracy over the faces it was measured on (Wilson's, from
statsmodels), and for two models scored on the same faces a paired bootstrap interval of their difference (scipy)
with McNemar's exact test (statsmodels); per-face correctness travels packed in a results record."""

from __future__ import annotations

import base64

import numpy as np

LEVEL = 0.95  # the confidence level of every interval the project states
RESAMPLES = 2000  # bootstrap resamples of the faces
BOOTSTRAP_SEED = 0  # the resampling is seeded: the same faces give the same interval


def accuracy_interval(accuracy: float, faces: int) -> tuple[float, float]:
    """The 95% Wilson interval of an accuracy measured on `faces` faces."""
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(int(round(accuracy * faces)), faces, alpha=1 - LEVEL, method="wilson")
    return float(low), float(high)


def pack(correct: np.ndarray) -> str:
    """Which faces a model got right (booleans, in the split's order), as compact text for a JSON record."""
    return base64.b64encode(np.packbits(np.asarray(correct, dtype=bool)).tobytes()).decode("ascii")


def unpack(packed: str, faces: int) -> np.ndarray:
    """The booleans `pack` stored for `faces` faces."""
    bits = np.unpackbits(np.frombuffer(base64.b64decode(packed), dtype=np.uint8))
    if len(bits) < faces or len(bits) - faces >= 8:
        raise ValueError(f"packed correctness holds {len(bits)} bits, not {faces} faces")
    return bits[:faces].astype(bool)


def paired(first: np.ndarray, second: np.ndarray) -> dict:
    """Two models on the same faces (booleans: right or wrong per face): the difference of their accuracies
    (first minus second), its paired bootstrap 95% interval (percentile, faces resampled together), McNemar's
    exact p-value, and how many faces only one of them got right."""
    from scipy.stats import bootstrap
    from statsmodels.stats.contingency_tables import mcnemar

    first, second = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
    if first.shape != second.shape or first.ndim != 1 or not len(first):
        raise ValueError(f"a paired comparison needs the same faces: got {first.shape} and {second.shape}")
    difference = float(first.mean() - second.mean())
    if np.array_equal(first, second):
        low = high = difference
    else:
        found = bootstrap((first.astype(float), second.astype(float)),
                          lambda a, b, axis: a.mean(axis=axis) - b.mean(axis=axis), paired=True, vectorized=True,
                          n_resamples=RESAMPLES, confidence_level=LEVEL, method="percentile",
                          rng=np.random.default_rng(BOOTSTRAP_SEED))
        low, high = float(found.confidence_interval.low), float(found.confidence_interval.high)
    only_first, only_second = int(np.sum(first & ~second)), int(np.sum(~first & second))
    table = [[int(np.sum(first & second)), only_first], [only_second, int(np.sum(~first & ~second))]]
    p_value = 1.0 if only_first + only_second == 0 else float(mcnemar(table, exact=True).pvalue)
    return {"difference": difference, "interval": [low, high], "p_value": p_value, "faces": int(len(first)),
            "only_first": only_first, "only_second": only_second}


def separated(comparison: dict) -> bool:
    """Whether a paired comparison's interval excludes zero: the two models can be told apart."""
    low, high = comparison["interval"]
    return low > 0 or high < 0


def spread(values) -> dict:
    """Mean and sample standard deviation of a number over seeds (sd None for one seed)."""
    values = np.asarray(list(values), dtype=float)
    return {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if len(values) > 1 else None,
            "values": [float(v) for v in values]}


def interval_text(low: float, high: float) -> str:
    """An accuracy's interval as the tables show it: "61.7-64.9%"."""
    return f"{low:.1%}".rstrip("%") + f"-{high:.1%}"


def points_interval(low: float, high: float) -> str:
    """A difference's interval in points: "-0.6 to +2.1 points"."""
    return f"{low * 100:+.1f} to {high * 100:+.1f} points"


def comparison_text(comparison: dict) -> str:
    """A paired comparison in words: its interval and McNemar's p."""
    return (f"95% interval {points_interval(*comparison['interval'])}, McNemar p = {comparison['p_value']:.2g}, "
            f"{comparison['faces']:,} faces")
