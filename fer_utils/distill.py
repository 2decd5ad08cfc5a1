"""Distillation: what a student network is trained on, the run's ensemble (its teacher) read on the training faces.
Each member with weight in models/ensemble.json reads every training face and its mirror image (its own
preprocessing); their probabilities, weighted as the ensemble weighs them on val, are the teacher's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from . import loading, preprocess, registry, views
from .errors import UserError
from .history import best_epoch_of, best_model, read_history
from .labels import CLASS_NAMES
from .paths import RunPaths, shown_path

TEACHER_VIEWS = "mirror"  # the views each member reads the training faces with


def teacher(run_dir: str | os.PathLike) -> dict[str, float]:
    """The run's ensemble as a teacher: member -> weight, members without weight left out; an error naming the
    notebook that chooses it where the run has none."""
    path = RunPaths(Path(run_dir).expanduser().resolve()).ensemble
    if not path.is_file():
        raise UserError(f"{shown_path(path)} is missing: a distilled network learns from the run's ensemble; run "
                        f"notebook 09 up to its ensemble first with the same run_dir")
    try:
        weights = json.loads(path.read_text())["weights"]
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"{shown_path(path)} holds no ensemble weights ({err}): run notebook 09 again") from None
    return {name: float(w) for name, w in weights.items() if w}


def targets(run_dir: str | os.PathLike, fer, weights: dict[str, float]) -> np.ndarray:
    """Rows [label, p_1, ..., p_7] for `fer`'s training faces: the label and the teacher's probabilities (each
    member of `weights` reading the face and its mirror image). An error naming a member whose weights the run
    does not hold (an extra seed's results taken from a reference run come without them)."""
    run = RunPaths(Path(run_dir).expanduser().resolve())
    teacher_p = np.zeros((len(fer.train.labels), len(CLASS_NAMES)), np.float64)
    for name, weight in weights.items():
        spec, _ = registry.trained(name)
        folder = run.model(name)
        history = read_history(folder)
        if history.empty or not best_model(folder, best_epoch_of(history)).is_file():
            raise UserError(f"{shown_path(folder)} holds no trained weights of {name}, a member of the teacher "
                            f"ensemble (a reference run keeps no weights of extra seeds): train it here first")
        model = loading.inference_model(folder, best_epoch_of(history))
        x = preprocess.prepared(fer, spec.preprocessing, run.root)["train"]
        teacher_p += weight * views.probabilities(views.view_outputs(model, x, TEACHER_VIEWS), spec.scores)
    teacher_p /= sum(weights.values())
    return np.column_stack([fer.train.labels, teacher_p]).astype(np.float32)
