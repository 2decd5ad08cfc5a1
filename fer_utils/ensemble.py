"""Ensembles of the series' trained models: class probabilities averaged with weights chosen on val (PublicTest)
only, by greedy forward selection with replacement (Caruana et al. 2004) on val log-loss, keeping the point of
its path most accurate on val. Test (PrivateTest) outputs are only ever scored with weights already chosen:
`select_weights` takes no test data."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, log_loss

from . import registry, uncertainty, views
from .labels import CLASS_NAMES

ROUNDS = 30  # selection rounds: weights are multiples of 1/ROUNDS


def probabilities(name: str, outputs: np.ndarray) -> np.ndarray:
    """Training `name`'s class probabilities from its outputs (`fer_utils.results.read_outputs`: averaged over its
    chosen views); a model that outputs SVM scores (the registry says so) has them turned into probabilities by a
    softmax. `name` is a registered model or one of its extra-seed trainings ("cnn_tuned-seed43")."""
    return views.probabilities(outputs, registry.trained(name)[0].scores)


def combine(members: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """The weighted average of the members' probabilities (members without weight are left out)."""
    return sum(w * members[name] for name, w in weights.items() if w)


def select_weights(val: dict[str, np.ndarray], y_val: np.ndarray, rounds: int = ROUNDS) -> dict[str, float]:
    """Weights over the members of `val` (their val probabilities) that sum to 1: each round adds one more copy
    of the member whose addition gives the lowest val log-loss (ties: the earlier member); of the mixes after each
    round, the one most accurate on val is kept (ties: the later, more averaged one), as Caruana et al. keep the
    best point of their path; where even that is less accurate on val than the most accurate member alone, that
    member alone. Val only."""
    if not val:
        raise ValueError("an ensemble needs at least one member")
    names, labels = list(val), range(len(CLASS_NAMES))
    counts = dict.fromkeys(names, 0)
    total = np.zeros_like(next(iter(val.values())))
    kept, kept_accuracy = None, -1.0
    for chosen in range(1, rounds + 1):
        losses = [log_loss(y_val, (total + val[n]) / chosen, labels=labels) for n in names]
        best = names[int(np.argmin(losses))]
        counts[best] += 1
        total = total + val[best]
        accuracy = accuracy_score(y_val, total.argmax(1))
        if accuracy >= kept_accuracy:
            kept, kept_accuracy = {n: counts[n] / chosen for n in names}, accuracy
    alone = max(names, key=lambda n: accuracy_score(y_val, val[n].argmax(1)))
    if kept_accuracy < accuracy_score(y_val, val[alone].argmax(1)):
        return {n: float(n == alone) for n in names}
    return kept


def evaluate(val: dict[str, np.ndarray], y_val: np.ndarray, test: dict[str, np.ndarray] | None = None,
             y_test: np.ndarray | None = None, rounds: int = ROUNDS) -> dict:
    """The ensemble of every member: weights chosen on val (`select_weights`), then its accuracy on val and (when
    given) on test; each member's own accuracies; and for each member, the ensemble re-selected without it
    (which members matter)."""
    weights = select_weights(val, y_val, rounds)

    def scored(w: dict[str, float]) -> dict:
        out = {"val": float(accuracy_score(y_val, combine(val, w).argmax(1)))}
        if test is not None:
            out["test"] = float(accuracy_score(y_test, combine(test, w).argmax(1)))
        return out

    without = {name: scored(select_weights({n: p for n, p in val.items() if n != name}, y_val, rounds))
               for name in val} if len(val) > 1 else {}
    record = {"members": list(val), "weights": weights, "selection": f"greedy on val log-loss, up to {rounds} rounds, the most accurate on val kept",
              **scored(weights), "member_accuracy": {n: scored({n: 1.0}) for n in val}, "without": without,
              "faces": {"val": int(len(y_val)), **({"test": int(len(y_test))} if test is not None else {})}}
    if test is not None:
        best, _ = best_member(record)
        record["against_best"] = {"member": best, **uncertainty.paired(combine(test, weights).argmax(1) == y_test,
                                                                        test[best].argmax(1) == y_test)}
    return record


def best_member(record: dict) -> tuple[str, float]:
    """The member with the highest test accuracy of its own, and that accuracy (what the ensemble is compared
    against; nothing is selected with it)."""
    name = max(record["members"], key=lambda n: record["member_accuracy"][n]["test"])
    return name, record["member_accuracy"][name]["test"]


def members_table(record: dict) -> pd.DataFrame:
    """One row per member (by its label): its weight, its own val and test accuracy (its chosen views), and the
    ensemble's when it is re-selected without that member; the faces of each split (for the intervals of
    `fer_utils.results.formatted`)."""
    rows = []
    for name in record["members"]:
        own, without = record["member_accuracy"][name], record["without"].get(name, {})
        rows.append({"member": registry.label(name),
                     "weight": record["weights"][name], "val accuracy": own["val"], "test accuracy": own.get("test"),
                     "ensemble without it, val": without.get("val"), "ensemble without it, test": without.get("test"),
                     **{f"{split} faces": n for split, n in record.get("faces", {}).items()}})
    return pd.DataFrame(rows).set_index("member").dropna(axis=1, how="all")
