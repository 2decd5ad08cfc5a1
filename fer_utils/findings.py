"""What the report's claims are judged on: the measurements notebooks record in a run's findings.json
(`record_finding`, each with the training it measured), and a run's or a committed reference run's evidence (results
records, histories, findings, extra seeds) gathered for `fer_utils.claims`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import atomic, paths, results
from .history import history_csv, read_history

FINDINGS_FILE = "findings.json"  # in a run folder: what notebooks measured for the claims
MEASURED_ON = "measured_on"  # in a finding: which training it measured (`training_of`)


def training_of(record: dict) -> dict:
    """What identifies a training in its results record: model, settings, epochs and best epoch."""
    return {k: record.get(k) for k in ("model", "training", "epochs", "best_epoch")}


def record_finding(run_root: str | os.PathLike, key: str, value, measured_on: dict | None = None) -> Path:
    """Add (or replace) one measurement under `key` in the run's findings.json; `measured_on`, the results record
    of the training it measured, is kept with it, so that a finding of an earlier training is never judged."""
    path = Path(run_root) / FINDINGS_FILE
    found = json.loads(path.read_text()) if path.exists() else {}
    found[key] = {**value, MEASURED_ON: training_of(measured_on)} if measured_on is not None else value
    return atomic.write_json(path, found)


def confusion_finding(matrix: pd.DataFrame, split: str, faces: dict[str, int] | None = None,
                      training_faces: dict[str, int] | None = None) -> dict:
    """What the claims need of a row-normalised confusion matrix (`fer_utils.evaluation.confusion`): the matrix
    (true -> predicted -> share), each class's recall, the split it was measured on, and (for intervals and
    reasons) each class's faces on that split and in training."""
    found = {"split": split, "matrix": matrix.to_dict(orient="index"),
             "recall": {name: float(matrix.loc[name, name]) for name in matrix.index}}
    if faces is not None:
        found["faces"] = {k: int(v) for k, v in faces.items()}
    if training_faces is not None:
        found["training_faces"] = {k: int(v) for k, v in training_faces.items()}
    return found


@dataclass
class Evidence:
    """What a run measured: results records and histories by model name, the notebooks' findings, and the
    records of the extra seeds of a model (name -> seed -> record)."""

    records: dict[str, dict]
    histories: dict[str, pd.DataFrame]
    findings: dict
    seeds: dict[str, dict[str, dict]] = field(default_factory=dict)

    @classmethod
    def of_run(cls, run_root: str | os.PathLike) -> "Evidence":
        """A run folder's evidence (models/<name>/results.json and history.csv, findings.json, and the seed
        trainings' models/<name>-seed<N>/results.json)."""
        run = paths.RunPaths(Path(run_root))
        records = results.collect(run.root)
        return cls(records, {n: read_history(run.model(n)) for n in records}, _findings(run.root),
                   results.collect_seeds(run.root))

    @classmethod
    def of_reference(cls, folder: str | os.PathLike) -> "Evidence":
        """A committed reference run's evidence (results.json with its seeds, histories/<name>.csv,
        findings.json)."""
        folder = Path(folder)
        committed = json.loads((folder / results.RESULTS_FILE).read_text())
        records = committed["models"]
        return cls(records, {n: history_csv(folder / "histories" / f"{n}.csv") for n in records}, _findings(folder),
                   committed.get("seeds", {}))

    def epochs(self, name: str) -> int:
        return int(self.records[name]["epochs"]) if name in self.records else 0

    def split(self, name: str) -> str:
        """The split a model's numbers are on: test, or val where the run has no test split."""
        return "test" if "test" in self.records[name] else "val"

    def accuracy(self, name: str) -> float:
        """The test accuracy of `name` with the views chosen on val (val where the run has no test split)."""
        return self.records[name][self.split(name)]["views_accuracy"]

    def interval(self, name: str) -> list[float] | None:
        return self.records[name][self.split(name)].get("intervals", {}).get("views_accuracy")

    def compare(self, first: str, second: str) -> dict | None:
        """The paired comparison of two models on the same faces, or None where a record has no per-face results."""
        split = self.split(first)
        try:
            return results.compare(self.records[first], self.records[second], split)
        except (ValueError, KeyError):
            return None

    def seed_accuracies(self, name: str) -> list[float]:
        """`name`'s accuracy (chosen views) for the run's own seed and each extra seed, in that order."""
        split = self.split(name)
        extra = self.seeds.get(name, {})
        return [self.accuracy(name)] + [extra[s][split]["views_accuracy"] for s in sorted(extra, key=int)
                                        if split in extra[s]]


def _findings(folder: Path) -> dict:
    path = folder / FINDINGS_FILE
    return json.loads(path.read_text()) if path.exists() else {}
