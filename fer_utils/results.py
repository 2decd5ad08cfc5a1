"""A trained model's results, in one schema from training to the README: written once per training as
models/<name>/results.json, read unchanged by the notebooks, the HTML report and `fer-report publish`; one table
builder for all of them, with the published numbers the report measures itself against."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from . import atomic, registry
from .config import RunPaths

RESULTS_FILE = "results.json"  # in a model's training folder, and (all models of a run) in its report

# Published FER2013 accuracies (PrivateTest), the anchors of the report's tables and sentences.
ANCHORS = {
    "tang": ("DLSVM, Tang 2013 (challenge winner)", 0.7116),
    "report_dlsvm": ("DLSVM as the report tuned it (about)", 0.65),
    "mini_xception": ("mini-XCEPTION, `fer` package (about)", 0.66),
    "human": ("human accuracy, Goodfellow et al. 2013 (about)", 0.65),
    "pramerdorfer": ("10-layer VGG, Pramerdorfer and Kampel 2016", 0.727),
    "khaireddin": ("VGGNet, Khaireddin and Chen 2021 (about 30M parameters, 300 epochs)", 0.7328),
}

COUNTS = ("trainable parameters", "epochs", "best epoch")


def anchor(key: str) -> float:
    """The published accuracy of ANCHORS[key]."""
    return ANCHORS[key][1]


def record(name: str, *, trainable_parameters: int, epochs: int, best_epoch: int, training_seconds: float,
           splits: dict[str, dict], training: dict | None = None) -> dict:
    """One model's results: size, epochs, the best epoch on val, training time, the settings it was trained with
    as the profile declared them (`fer_utils.reference.settings`), and per split the evaluation of
    `fer_utils.evaluation.evaluate` (accuracy, flip_accuracy, per_class, and crops, crop_accuracy where used)."""
    return {"model": name, "label": registry.get(name).label, "trainable_parameters": int(trainable_parameters),
            "epochs": int(epochs), "best_epoch": int(best_epoch), "training_seconds": round(float(training_seconds), 1),
            **({"training": training} if training is not None else {}), **splits}


def write(folder: str | os.PathLike, results: dict) -> Path:
    return atomic.write_json(Path(folder) / RESULTS_FILE, results)


def read(run_dir: str | os.PathLike, name: str) -> dict:
    """The results of model `name` in a run; an error naming the notebook that trains it if they are missing."""
    path = RunPaths(Path(run_dir).expanduser().resolve()).model(name) / RESULTS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run notebook {registry.get(name).notebook} first with the "
                                f"same run_dir")
    return json.loads(path.read_text())


def collect(run_dir: str | os.PathLike) -> dict[str, dict]:
    """The results of every registered model that the run has trained, in registry order."""
    run = RunPaths(Path(run_dir).expanduser().resolve())
    return {name: json.loads((run.model(name) / RESULTS_FILE).read_text()) for name in registry.MODELS
            if (run.model(name) / RESULTS_FILE).exists()}


def table(records, anchors=(), ensemble: dict | None = None) -> pd.DataFrame:
    """One row per model (by its label): size, epochs, best epoch, best val accuracy, test accuracy plain,
    flip-averaged and (where any model has them) crop-averaged, training minutes; then the `ensemble` record's
    row (`fer_utils.ensemble`: val accuracy, test accuracy of its flip-averaged members) when given; then the
    published rows named in `anchors` (keys of ANCHORS, or True for all)."""
    records = list(records.values()) if isinstance(records, dict) else list(records)
    rows = []
    for r in records:
        val, test = r.get("val", {}), r.get("test", {})
        rows.append({"model": r.get("label", r["model"]), "trainable parameters": r["trainable_parameters"],
                     "epochs": r["epochs"], "best epoch": r["best_epoch"], "best val accuracy": val.get("accuracy"),
                     "test accuracy": test.get("accuracy"), "test accuracy, flip-averaged": test.get("flip_accuracy"),
                     "test accuracy, crop-averaged": test.get("crop_accuracy"),
                     "training minutes": r["training_seconds"] / 60})
    if ensemble:
        rows.append({"model": ensemble_label(ensemble), "best val accuracy": ensemble["val"],
                     "test accuracy, flip-averaged": ensemble.get("test")})
    columns = ["model", "trainable parameters", "epochs", "best epoch", "best val accuracy", "test accuracy",
               "test accuracy, flip-averaged", "test accuracy, crop-averaged", "training minutes"]
    frame = pd.DataFrame(rows, columns=columns).set_index("model")
    if not any("crop_accuracy" in r.get("test", {}) for r in records):
        frame = frame.drop(columns="test accuracy, crop-averaged")
    keys = list(ANCHORS) if anchors is True else list(anchors)
    if keys:
        published = pd.DataFrame([{"model": ANCHORS[k][0], "test accuracy": ANCHORS[k][1]} for k in keys])
        frame = pd.concat([frame, published.set_index("model").reindex(columns=frame.columns)])
    return frame.astype({c: "Int64" for c in COUNTS}).astype({c: float for c in frame.columns if c not in COUNTS})


def ensemble_label(record: dict) -> str:
    """How tables name an ensemble record: its members with weight and how the weights were chosen."""
    used = [registry.label(n) for n, w in record["weights"].items() if w]
    return f"ensemble of {len(used)} ({'; '.join(used)}), weights chosen on val"


def points(difference: float) -> str:
    """A difference of two accuracies in percentage points, signed: "+2.0 points"."""
    return f"{difference * 100:+.1f} points"


def cell(column: str, value) -> str:
    """One value of a results table as the report shows it: accuracies in %, minutes whole, counts grouped."""
    if pd.isna(value):
        return ""
    if "accuracy" in column:
        return f"{value:.1%}"
    if column == "training minutes":
        return f"{value:.0f}"
    return f"{value:,}"


def formatted(frame: pd.DataFrame) -> pd.DataFrame:
    """`table` with every cell as the report shows it (strings)."""
    return frame.astype(object).apply(lambda column: column.map(lambda v: cell(column.name, v)))


def markdown(frame: pd.DataFrame) -> str:
    """`table` as a Markdown table (for the README)."""
    shown = formatted(frame)
    lines = ["| model | " + " | ".join(shown.columns) + " |", "|---" * (len(shown.columns) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(row) + " |" for name, row in shown.iterrows()]
    return "\n".join(lines) + "\n"
