"""The training engine: resumable training of the registry's models and their evaluation. Each epoch writes a
checkpoint and a history row atomically, so a killed run resumes after its last finished epoch; the best epoch on
val is kept. Its command line is `python -m fer_utils.train MODEL` (`fer_utils.cli.train_main`)."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import (atomic, data, distill, evaluation, loading, lock, paths, progress, reference, registry, results, runtime,
               settings, views)
from .errors import UserError
from .history import HISTORY_COLUMNS, best_epoch_of, best_model, checkpoint, epoch_of, read_history
from .models import keras, trainable_parameters

log = logging.getLogger(__name__)

PROGRESS_EVERY = 5.0  # seconds between progress updates within an epoch


@dataclass
class Trained:
    """A finished (or resumed-to-the-end) training: the best model on val and its history."""

    name: str
    model: object  # keras.Model, restored from the best epoch
    history: pd.DataFrame
    best_epoch: int
    folder: Path


# --------------------------------------------------------------------------- training


def train_model(model: str | registry.ModelSpec, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, *,
                folder: str | os.PathLike, epochs: int, seed: int, identity: dict | None = None,
                **compute) -> Trained:
    """Train registered model `model` (its name or its spec) to `epochs` in `folder`, resuming after the last finished epoch there; a
    finished training is loaded, not redone. If `identity` (data, limits...), batch size, seed or precision
    differ from the folder's earlier run, that run is moved aside and training starts afresh. `compute`: the
    compute settings (`fer_utils.settings`; the declared default for each one not given): batch size,
    precision, XLA, distribution (as in `runtime.compute_scope`) and batches per call into the device.
    Validation runs in batches of at least `views.EVAL_BATCH`."""
    spec = registry.get(model)
    name = spec.name
    if epochs < 1:
        raise UserError(f"epochs must be at least 1, got {epochs}")
    compute = settings.resolve(compute, name, where="train_model", strict=True)
    batch_size, mixed_precision = compute["batch_size"], compute["mixed_precision"]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    recorded = {"model": name, "batch_size": batch_size, "seed": seed, "n_train": int(len(y_train)),
                "n_val": int(len(y_val)), **(identity or {})}
    mixed_precision = runtime.resolved_precision(mixed_precision)
    if mixed_precision:
        recorded["mixed_precision"] = "bfloat16" if mixed_precision == "bfloat16" else True
    if spec.schedule_steps:  # the learning rate's schedule spans exactly this many epochs
        recorded["epochs"] = epochs
    _check_settings(folder, recorded)
    history = read_history(folder)
    done = len(history)
    if 0 < done < epochs and not checkpoint(folder, done).exists():  # a reference run's training: no optimizer state
        reference.set_aside(folder, f"no checkpoint of epoch {done} to continue from to {epochs} epochs; training "
                                    f"afresh")
        folder.mkdir()
        atomic.write_json(folder / "config.json", recorded)
        history, done = read_history(folder), 0
    _drop_uncommitted(folder, done)
    if done >= epochs:
        log.info("%s: already trained for %d epochs (asked %d); loading it", name, done, epochs)
    else:
        with runtime.compute_scope(mixed_precision, compute["distribute"]) as replicas:
            if done:
                # A fresh, reproducible random stream for the remaining epochs: re-seeding with `seed` would replay
                # the first epochs' shuffles, augmentations and dropout masks, which the model has already seen.
                keras.utils.set_random_seed(seed + done)
                model = keras.models.load_model(checkpoint(folder, done))
                log.info("%s: resuming after epoch %d of %d", name, done, epochs)
            else:
                keras.utils.set_random_seed(seed)
                steps = {"total_steps": epochs * -(-len(y_train) // batch_size)} if spec.schedule_steps else {}
                model = spec.build(seed, **steps)
            runtime.set_jit_compile(model, compute["jit_compile"])
            model.steps_per_execution = compute["steps_per_execution"]
            if replicas > 1:
                log.info("%s: data-parallel over %d devices", name, replicas)
            model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, initial_epoch=done, shuffle=True,
                      validation_data=(x_val, y_val), validation_batch_size=max(batch_size, views.EVAL_BATCH), verbose=0,
                      callbacks=[EpochCommit(folder.name, folder, epochs, history)])
        history = read_history(folder)
    best_epoch = best_epoch_of(history)
    return Trained(name, loading.inference_model(folder, best_epoch), history, best_epoch, folder)


class EpochCommit(keras.callbacks.Callback):
    """Writes each epoch's checkpoint, best model and history row so that a kill at any moment leaves a
    consistent folder: the history CSV is the commit point, and files of later epochs are dropped on resume.
    Also keeps progress.json current (epoch, batch, last val accuracy, times) for whoever watches the run."""

    def __init__(self, name: str, folder: Path, epochs: int, history: pd.DataFrame):
        super().__init__()
        self.name, self.folder, self.epochs, self.history = name, folder, epochs, history
        self.started, self.first, self.shown = time.time(), len(history), 0.0

    def on_train_begin(self, logs=None):
        self._progress(batch=0)

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if time.time() - self.shown >= PROGRESS_EVERY:
            self._progress(batch=batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        number = epoch + 1
        row = {"epoch": number, **{k: float(logs[k]) for k in HISTORY_COLUMNS[1:5]},
               "lr": float(np.asarray(self.model.optimizer.learning_rate)),
               "seconds": time.perf_counter() - self.start}
        history = self.history
        _save_model(self.model, checkpoint(self.folder, number))
        if history.empty or row["val_accuracy"] > history["val_accuracy"].max():
            _save_model(self.model, best_model(self.folder, number), include_optimizer=False)
        history = pd.concat([history, pd.DataFrame([row])], ignore_index=True)
        atomic.write_text(self.folder / "history.csv", history.to_csv(index=False))  # the commit point
        _drop_superseded(self.folder, history)
        self.history = history
        self._progress(batch=0)
        log.info("%s epoch %d/%d: loss %.4f acc %.4f, val_loss %.4f val_acc %.4f, lr %.3g, %.1f s", self.name,
                 number, self.epochs, row["loss"], row["accuracy"], row["val_loss"], row["val_accuracy"],
                 row["lr"], row["seconds"])

    def _progress(self, batch: int) -> None:
        h = self.history
        atomic.write_json(self.folder / progress.PROGRESS_FILE, {  # what `fer-report run` shows
            "model": self.name, "epoch": len(h), "epochs": self.epochs, "batch": batch,
            "batches": int(self.params.get("steps") or 0) if self.params else 0,
            "val_accuracy": float(h["val_accuracy"].iloc[-1]) if len(h) else None,
            "started": self.started, "epochs_this_run": len(h) - self.first, "updated": time.time()})
        self.shown = time.time()


def _check_settings(folder: Path, settings: dict) -> None:
    """Record the training's parameters; a folder trained with other ones is moved aside (kept, never mixed)
    and training starts afresh. More epochs than before is not a change: training continues."""
    path = folder / "config.json"
    if path.exists():
        old = json.loads(path.read_text())
        changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        if not changed or (changed == ["data_sha256"] and "data_sha256" not in old):  # a folder from before the
            atomic.write_json(path, settings)  # data's content was recorded: the same path, taken as the same data
            return
        aside = folder.with_name(f"{folder.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(folder, aside)
        folder.mkdir()
        log.warning("%s was trained with other parameters (%s); moved it to %s and training afresh", folder,
                    "; ".join(f"{k}: {old.get(k)} then, {settings.get(k)} now" for k in changed), aside.name)
    atomic.write_json(path, settings)


def _drop_uncommitted(folder: Path, done: int) -> None:
    """Remove what an epoch in flight left when a run was killed: partial files, and models of epochs that the
    history does not hold."""
    atomic.remove_partials(folder)
    for path in [*folder.glob("checkpoint-epoch*.keras"), *folder.glob("best-epoch*.keras")]:
        if epoch_of(path) > done:
            path.unlink()


def _drop_superseded(folder: Path, history: pd.DataFrame) -> None:
    """Keep only the last checkpoint and the best epoch's model."""
    last, best = int(history["epoch"].iloc[-1]), best_epoch_of(history)
    for path in folder.glob("checkpoint-epoch*.keras"):
        if epoch_of(path) != last:
            path.unlink()
    for path in folder.glob("best-epoch*.keras"):
        if epoch_of(path) != best:
            path.unlink()


def _save_model(model, path: Path, include_optimizer: bool = True) -> None:
    if not include_optimizer:  # the best model is for inference: its layers and weights, uncompiled (a third the
        model = keras.Model(model.inputs, model.outputs, name=model.name)  # size; clone_model compiles its copy)
    with atomic.atomic_path(path) as partial:
        model.save(partial)


def train_and_evaluate(name: str, fer: data.FER2013, x: dict[str, np.ndarray], run_dir: str | os.PathLike, *,
                       epochs: int, seed: int, train_limit: int, eval_limit: int, retrain: bool = False,
                       before_training=None, extra_seed: bool = False, **compute) -> tuple[Trained, dict]:
    """Train (or resume, or load) `name` in the run's models/<name> on `fer`'s faces preprocessed as `x` (split ->
    array), evaluate it on val over each of its registered view sets and on test with the set chosen on val
    (`fer_utils.evaluation.evaluate_splits`), and write its results (`fer_utils.results`) and its outputs with the
    chosen views beside it. Where a reference run holds this very training (`fer_utils.reference`), it
    is copied in and loaded instead of trained, unless `retrain`, and its evaluation is the reference run's where
    that run saved it for these faces and view sets; a finished training's evaluation is not redone
    (`_evaluation`); `before_training(done)` is called when epochs
    are about to be trained (after `done` finished ones). The compute settings go to `train_model`. The training
    holds models/<name>.lock meanwhile: another training of the same model in the same run folder stops with
    `lock.FolderInUse`. With `extra_seed`, the training is one of the model's extra seeds (the spread of its
    result): it lives in models/<name>-seed<seed> and is never taken from a reference run's weights."""
    spec = registry.get(name)  # resolved once for the whole training
    run = paths.RunPaths(Path(run_dir).expanduser().resolve())
    folder = run.seed_model(name, seed) if extra_seed else run.model(name)
    with lock.holding(folder.parent / f"{folder.name}.lock", f"the training of {folder.name}", folder):  # one writer
        compute = settings.resolve(compute, name, where="train_and_evaluate", strict=True)
        wanted = reference.settings(data_sha256=data.sha256(fer.source), epochs=epochs,
                                    batch_size=compute["batch_size"], seed=seed, train_limit=train_limit,
                                    eval_limit=eval_limit, precision=compute["mixed_precision"])
        if (extra_seed or reference.start_from(name, wanted, run_dir, fer.train.images, retrain=retrain) is None) \
                and before_training:
            done = len(read_history(folder))
            if done < epochs:
                before_training(done)
        teacher = distill.teacher(run.root) if spec.student else None  # a student's training is its teacher's too
        identity = {"data": str(fer.source), "data_sha256": wanted["data_sha256"], "train_limit": train_limit,
                    "eval_limit": eval_limit, **({"teacher": teacher} if teacher else {})}
        y_train = fer.train.labels
        if teacher and len(read_history(folder)) < epochs:
            y_train = distill.targets(run.root, fer, teacher)
        trained = train_model(spec, x["train"], y_train, x["val"], fer.val.labels, folder=folder,
                              epochs=epochs, seed=seed, identity=identity, **compute)
        splits, outputs, evaluated_in = _evaluation(spec, trained, fer, x, folder, wanted)
        splits = results.per_face(splits, outputs, {s: getattr(fer, s).labels for s in splits})
        record = results.record(spec, trainable_parameters=trainable_parameters(trained.model),
                                epochs=len(trained.history), best_epoch=trained.best_epoch,
                                training_seconds=trained.history["seconds"].sum(), training=wanted, splits=splits,
                                evaluated_in=evaluated_in, teacher=teacher)
        results.write_outputs(folder, outputs)
        results.write(folder, record)
        return trained, record


def _evaluation(spec: registry.ModelSpec, trained: Trained, fer: data.FER2013, x: dict[str, np.ndarray], folder: Path, wanted: dict
                ) -> tuple[dict, dict[str, np.ndarray], str | None]:
    """The evaluation of a training (splits, outputs with the chosen views, and the reference run it comes from or
    None): the one its folder holds already for this very training, else the reference run's for a training
    taken from there, else measured here."""
    faces = {s: len(x[s]) for s in ("val", "test") if s in x}
    saved = results.saved_evaluation(folder, wanted, len(trained.history), trained.best_epoch, faces, spec.views)
    if saved is not None:
        return saved
    taken = reference.evaluation(folder, faces, spec.views)
    if taken is not None:
        return (*taken, reference.adopted(folder)["reference"])
    return (*evaluation.evaluate_splits(trained.model, x, {s: getattr(fer, s).labels for s in x}, spec.views,
                                        spec.scores), None)


if __name__ == "__main__":  # python -m fer_utils.train: the training CLI (fer_utils.cli.train_main)
    from fer_utils.cli import train_main

    sys.exit(train_main())
