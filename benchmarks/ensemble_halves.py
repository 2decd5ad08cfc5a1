"""Whether the ensemble adds anything over its best member, judged inside val (PublicTest) alone: val is split in
two halves at random, the ensemble's weights are chosen on one half and scored on the other, and the other way
round, over several splits. Compared: the member best on val alone, the ensemble of `fer_utils.ensemble`, and
the same ensemble over members whose probabilities are first calibrated by one temperature each (fitted on the
same half). Test (PrivateTest) is not read. Needs a run whose training notebooks saved their outputs.

    python benchmarks/ensemble_halves.py [--run-dir runs/quick] [--data PATH] [--splits 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from sklearn.metrics import accuracy_score, log_loss

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer_utils import data, ensemble, registry, results  # noqa: E402
from fer_utils.labels import CLASS_NAMES  # noqa: E402


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def calibrated(p: np.ndarray, y: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """`p` with its log-probabilities divided by the temperature that minimises the log-loss on rows `fit`."""
    z = np.log(np.clip(p, 1e-12, 1))
    best = minimize_scalar(lambda t: log_loss(y[fit], softmax(z[fit] / t), labels=range(len(CLASS_NAMES))),
                           bounds=(0.05, 20), method="bounded")
    return softmax(z / best.x)


def scores(p: dict[str, np.ndarray], y: np.ndarray, fit: np.ndarray, held: np.ndarray) -> dict[str, float]:
    """Held-out accuracy of the best member, the ensemble and the calibrated ensemble, all chosen on `fit`."""
    best = max(p, key=lambda n: accuracy_score(y[fit], p[n][fit].argmax(1)))
    weights = ensemble.select_weights({n: q[fit] for n, q in p.items()}, y[fit])
    cal = {n: calibrated(q, y, fit) for n, q in p.items()}
    cal_weights = ensemble.select_weights({n: q[fit] for n, q in cal.items()}, y[fit])
    return {"best member on the fitting half": accuracy_score(y[held], p[best][held].argmax(1)),
            "ensemble": accuracy_score(y[held], ensemble.combine({n: q[held] for n, q in p.items()}, weights).argmax(1)),
            "ensemble, members calibrated": accuracy_score(
                y[held], ensemble.combine({n: q[held] for n, q in cal.items()}, cal_weights).argmax(1))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", default="runs/quick")
    parser.add_argument("--data", help="FER2013 file or folder (default: $FER2013_DATA, then data/)")
    parser.add_argument("--splits", type=int, default=5, help="random halvings of val (each scored both ways)")
    args = parser.parse_args(argv)
    y = data.load_fer2013(args.data).val.labels
    p = {n: ensemble.probabilities(n, results.read_outputs(args.run_dir, n)["val"])
         for n in results.collect(args.run_dir)}
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(args.splits):
        order = rng.permutation(len(y))
        a, b = order[:len(y) // 2], order[len(y) // 2:]
        rows += [scores(p, y, a, b), scores(p, y, b, a)]
    table = pd.DataFrame(rows)
    print(f"{len(p)} members ({'; '.join(registry.label(n) for n in p)}), each with its chosen views; "
          f"accuracy on the held-out half of val (PublicTest), {len(rows)} halves:")
    print((pd.DataFrame({"mean": table.mean(), "standard error": table.sem()}) * 100).round(2).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
