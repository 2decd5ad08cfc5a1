"""Resumable training of the report's models and their evaluation. Each epoch writes a checkpoint and a
history row atomically, so a killed run resumes after its last finished epoch; the best epoch on val is kept.

    python -m fer_utils.train {cnn,cnn_noaug,dnn,dlsvm_svm,dlsvm_softmax} --profile P [--data PATH]
        [--run-dir DIR] [--epochs N] [--test-crops N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import data as fer_data
from .models import BUILDERS, keras, trainable_parameters
from .preprocess import Preprocessor, TangPreprocessor

log = logging.getLogger(__name__)

MODELS = ("cnn", "cnn_noaug", "dnn", "dlsvm_svm", "dlsvm_softmax")
EPOCHS_KEY = {"cnn": "epochs_cnn", "cnn_noaug": "epochs_cnn_noaug", "dnn": "epochs_dnn",
              "dlsvm_svm": "epochs_dlsvm", "dlsvm_softmax": "epochs_dlsvm"}  # the profile's epochs per model
# Test-time views for DLSVM: pixel shifts that move its centre 42x42 crop to the centre and the corners, plain
# and mirrored, in this order; the first `crops` are averaged.
CROP_VIEWS = [(0, 0, False), (0, 0, True), (-3, -3, False), (-3, 3, False), (3, -3, False), (3, 3, False),
              (-3, -3, True), (-3, 3, True), (3, -3, True), (3, 3, True)]
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")


class TrainingMismatch(RuntimeError):
    """A training folder whose history is not one this engine wrote."""


@dataclass
class Trained:
    """A finished (or resumed-to-the-end) training: the best model on val and its history."""

    name: str
    model: object  # keras.Model, restored from the best epoch
    history: pd.DataFrame
    best_epoch: int
    folder: Path


# --------------------------------------------------------------------------- training


def train_model(name: str, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, *,
                folder: str | os.PathLike, epochs: int, batch_size: int, seed: int,
                identity: dict | None = None, mixed_precision: bool = False, jit_compile="auto",
                distribute: str = "none") -> Trained:
    """Train `name` to `epochs` in `folder`, resuming after the last finished epoch there; a finished
    training is loaded, not redone. If `identity` (data, limits...), batch size, seed or precision differ from
    the folder's earlier run, that run is moved aside and training starts afresh. `mixed_precision`,
    `jit_compile` (XLA: True, False or Keras' "auto") and `distribute` ("none" or "data_parallel" over every
    device of the backend) choose how the model computes, as in `compute_scope`."""
    if name not in BUILDERS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(BUILDERS)}")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model": name, "batch_size": batch_size, "seed": seed, "n_train": int(len(y_train)),
              "n_val": int(len(y_val)), **(identity or {})}
    if mixed_precision:
        config["mixed_precision"] = True
    _check_config(folder, config)
    history = read_history(folder)
    done = len(history)
    _drop_uncommitted(folder, done)
    if done >= epochs:
        log.info("%s: already trained for %d epochs (asked %d); loading it", name, done, epochs)
    else:
        with compute_scope(mixed_precision, distribute) as replicas:
            if done:
                # A fresh, reproducible random stream for the remaining epochs: re-seeding with `seed` would replay
                # the first epochs' shuffles, augmentations and dropout masks, which the model has already seen.
                keras.utils.set_random_seed(seed + done)
                model = keras.models.load_model(_checkpoint(folder, done))
                log.info("%s: resuming after epoch %d of %d", name, done, epochs)
            else:
                keras.utils.set_random_seed(seed)
                model = BUILDERS[name](seed)
            if jit_compile != "auto":
                model.jit_compile = bool(jit_compile)
            if replicas > 1:
                log.info("%s: data-parallel over %d devices", name, replicas)
            model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, initial_epoch=done, shuffle=True,
                      validation_data=(x_val, y_val), verbose=0,
                      callbacks=[EpochCommit(name, folder, epochs, history)])
        history = read_history(folder)
    best_epoch = int(history.loc[history["val_accuracy"].idxmax(), "epoch"])
    model = keras.models.load_model(_best(folder, best_epoch), compile=False)
    return Trained(name, model, history, best_epoch, folder)


@contextlib.contextmanager
def compute_scope(mixed_precision: bool = False, distribute: str = "none"):
    """Build and train inside this: float16 compute with float32 weights when `mixed_precision` (GPUs), and
    with `distribute="data_parallel"` each batch split over every device of the backend (Keras'
    DataParallel distribution on JAX, MirroredStrategy on TensorFlow). Yields the number of replicas."""
    if distribute not in ("none", "data_parallel"):
        raise ValueError(f"distribute must be 'none' or 'data_parallel', got {distribute!r}")
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16" if mixed_precision else "float32")
    backend = keras.backend.backend()
    try:
        if distribute == "none":
            yield 1
        elif backend == "jax":
            previous = keras.distribution.distribution()
            devices = keras.distribution.list_devices()
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
            try:
                yield len(devices)
            finally:
                keras.distribution.set_distribution(previous)
        elif backend == "tensorflow":
            import tensorflow as tf

            devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
            strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
            with strategy.scope():
                yield strategy.num_replicas_in_sync
        else:
            raise ValueError(f"data-parallel training needs the jax or tensorflow backend, not {backend}")
    finally:
        keras.config.set_dtype_policy(policy)


class EpochCommit(keras.callbacks.Callback):
    """Writes each epoch's checkpoint, best model and history row so that a kill at any moment leaves a
    consistent folder: the history CSV is the commit point, and files of later epochs are dropped on resume."""

    def __init__(self, name: str, folder: Path, epochs: int, history: pd.DataFrame):
        super().__init__()
        self.name, self.folder, self.epochs, self.history = name, folder, epochs, history

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        number = epoch + 1
        row = {"epoch": number, **{k: float(logs[k]) for k in HISTORY_COLUMNS[1:5]},
               "lr": float(np.asarray(self.model.optimizer.learning_rate)),
               "seconds": time.perf_counter() - self.start}
        history = self.history
        _save_atomic(self.model, _checkpoint(self.folder, number))
        if history.empty or row["val_accuracy"] > history["val_accuracy"].max():
            _save_atomic(self.model, _best(self.folder, number), include_optimizer=False)
        history = pd.concat([history, pd.DataFrame([row])], ignore_index=True)
        _write_csv_atomic(history, self.folder / "history.csv")  # the commit point
        _drop_superseded(self.folder, history)
        self.history = history
        log.info("%s epoch %d/%d: loss %.4f acc %.4f, val_loss %.4f val_acc %.4f, lr %.3g, %.1f s", self.name,
                 number, self.epochs, row["loss"], row["accuracy"], row["val_loss"], row["val_accuracy"],
                 row["lr"], row["seconds"])


def read_history(folder: str | os.PathLike) -> pd.DataFrame:
    """The history CSV of a training folder (empty if none), checked to hold epochs 1..n once each."""
    path = Path(folder) / "history.csv"
    if not path.exists():
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    history = pd.read_csv(path)
    if list(history.columns) != list(HISTORY_COLUMNS) or list(history["epoch"]) != list(range(1, len(history) + 1)):
        raise TrainingMismatch(f"{path}: not a history of epochs 1..n with columns {', '.join(HISTORY_COLUMNS)}")
    return history


def _check_config(folder: Path, config: dict) -> None:
    """Record the training's parameters; a folder trained with other ones is moved aside (kept, never mixed)
    and training starts afresh. More epochs than before is not a change: training continues."""
    path = folder / "config.json"
    if path.exists():
        old = json.loads(path.read_text())
        changed = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
        if not changed:
            return
        aside = folder.with_name(f"{folder.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(folder, aside)
        folder.mkdir()
        log.warning("%s was trained with other parameters (%s); moved it to %s and training afresh", folder,
                    "; ".join(f"{k}: {old.get(k)} then, {config.get(k)} now" for k in changed), aside.name)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config, indent=1))
    os.replace(tmp, path)


def _checkpoint(folder: Path, epoch: int) -> Path:
    return folder / f"checkpoint-epoch{epoch:04d}.keras"


def _best(folder: Path, epoch: int) -> Path:
    return folder / f"best-epoch{epoch:04d}.keras"


def _epoch_of(path: Path) -> int:
    return int(path.stem.rsplit("epoch", 1)[1])


def _drop_uncommitted(folder: Path, done: int) -> None:
    """Remove what an epoch in flight left when a run was killed: temporary files, and models of epochs
    that the history does not hold."""
    for path in folder.iterdir():
        if ".tmp" in path.name or (path.suffix == ".keras" and _epoch_of(path) > done):
            path.unlink()


def _drop_superseded(folder: Path, history: pd.DataFrame) -> None:
    """Keep only the last checkpoint and the best epoch's model."""
    last = int(history["epoch"].iloc[-1])
    best = int(history.loc[history["val_accuracy"].idxmax(), "epoch"])
    for path in folder.glob("checkpoint-epoch*.keras"):
        if _epoch_of(path) != last:
            path.unlink()
    for path in folder.glob("best-epoch*.keras"):
        if _epoch_of(path) != best:
            path.unlink()


def _save_atomic(model, path: Path, include_optimizer: bool = True) -> None:
    tmp = path.with_name(path.stem + ".tmp.keras")
    if include_optimizer:
        model.save(tmp)
    else:  # the best model is for inference: weights and architecture only
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        clone.save(tmp)
    os.replace(tmp, path)


def _write_csv_atomic(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- evaluation


def predict_proba(model, x: np.ndarray, flip: bool = False, batch_size: int = 512) -> np.ndarray:
    """Class probabilities; with `flip`, the average over each face and its mirror image."""
    p = model.predict(x, batch_size=batch_size, verbose=0)
    if flip:
        p = (p + model.predict(x[:, :, ::-1, :], batch_size=batch_size, verbose=0)) / 2
    return p


def crop_views(x: np.ndarray, crops: int):
    """The first `crops` (1-10) of CROP_VIEWS of faces (N, 48, 48, 1): each shifted so that a model's centre
    crop sees the centre or a corner window, plain or mirrored. The shift wraps only pixels the crop drops."""
    if not 1 <= crops <= len(CROP_VIEWS):
        raise ValueError(f"test crops must be between 1 and {len(CROP_VIEWS)}, got {crops}")
    for dy, dx, mirror in CROP_VIEWS[:crops]:
        view = np.roll(x, (-dy, -dx), axis=(1, 2))
        yield view[:, :, ::-1, :] if mirror else view


def predict_crops(model, x: np.ndarray, crops: int, batch_size: int = 512) -> np.ndarray:
    """The model's outputs (probabilities or SVM scores) averaged over `crops` test views."""
    return np.mean([model.predict(v, batch_size=batch_size, verbose=0) for v in crop_views(x, crops)], axis=0)


def evaluate(model, x: np.ndarray, y: np.ndarray, crops: int = 0) -> dict:
    """Accuracy plain and flip-averaged, per-class accuracy (recall), and with `crops`, the accuracy
    averaged over that many test views (`crop_views`), on one split."""
    from sklearn.metrics import accuracy_score, recall_score

    p = predict_proba(model, x)
    mirrored = model.predict(x[:, :, ::-1, :], batch_size=512, verbose=0)
    plain, flipped = p.argmax(1), ((p + mirrored) / 2).argmax(1)
    labels = list(range(len(fer_data.CLASS_NAMES)))
    per_class = recall_score(y, plain, labels=labels, average=None, zero_division=0)
    results = {"accuracy": float(accuracy_score(y, plain)), "flip_accuracy": float(accuracy_score(y, flipped)),
               "per_class": dict(zip(fer_data.CLASS_NAMES, map(float, per_class)))}
    if crops:
        results["crops"] = crops
        results["crop_accuracy"] = float(accuracy_score(y, predict_crops(model, x, crops).argmax(1)))
    return results


def overfitting_onset(history: pd.DataFrame) -> int | None:
    """The epoch where val loss reaches its minimum while train loss keeps falling after it, or None when
    val loss is still at its minimum in the last epoch (no overfitting seen in this run)."""
    best = int(history["val_loss"].idxmin())
    if best == len(history) - 1 or history["loss"].iloc[-1] >= history["loss"].iloc[best]:
        return None
    return int(history["epoch"].iloc[best])


def results_table(evaluations: list[dict]) -> pd.DataFrame:
    """One row per model from `train_from_profile` results: size, epochs, best val and test accuracy (and
    the crop-averaged accuracies where a model has them)."""
    rows = []
    for e in evaluations:
        val, test = e["val"], e.get("test", {})
        row = {"model": e["model"], "trainable parameters": e["trainable_parameters"], "epochs": e["epochs"],
               "best epoch": e["best_epoch"], "val accuracy": val["accuracy"], "test accuracy": test.get("accuracy"),
               "test accuracy, flip-averaged": test.get("flip_accuracy")}
        if "crop_accuracy" in val:
            row["val accuracy, crop-averaged"] = val["crop_accuracy"]
            row["test accuracy, crop-averaged"] = test.get("crop_accuracy")
        rows.append({**row, "training minutes": e["train_seconds"] / 60})
    return pd.DataFrame(rows).set_index("model")


# Published FER2013 accuracies that the report measures itself against (PrivateTest unless said otherwise).
PUBLISHED = pd.DataFrame([
    {"model": "DLSVM, Tang 2013 (challenge winner)", "test accuracy": 0.7116},
    {"model": "DLSVM as the report tuned it (about)", "test accuracy": 0.65},
    {"model": "mini-XCEPTION, `fer` package (about)", "test accuracy": 0.66},
    {"model": "human accuracy, Goodfellow et al. 2013 (about)", "test accuracy": 0.65},
]).set_index("model")


def with_published(table: pd.DataFrame, models: list[str] | None = None) -> pd.DataFrame:
    """`table` with the PUBLISHED rows (or those named in `models`) below it."""
    published = PUBLISHED if models is None else PUBLISHED.loc[models]
    counts = {c: "Int64" for c in ("trainable parameters", "epochs", "best epoch") if c in table}
    return pd.concat([table, published.reindex(columns=table.columns)]).astype(counts)


def read_evaluation(run_dir: str | os.PathLike, name: str, notebook: str) -> dict:
    """The evaluation.json that `notebook` wrote for model `name`; an error naming that notebook if missing."""
    return json.loads(_artifact(run_dir, name, "evaluation.json", notebook).read_text())


def load_history(run_dir: str | os.PathLike, name: str, notebook: str) -> pd.DataFrame:
    """The history of model `name` that `notebook` trained; an error naming that notebook if missing."""
    return read_history(_artifact(run_dir, name, "history.csv", notebook).parent)


def load_best(run_dir: str | os.PathLike, name: str, notebook: str):
    """The best-on-val model of `name` that `notebook` trained (for inference); an error naming it if missing."""
    history = load_history(run_dir, name, notebook)
    best = int(history.loc[history["val_accuracy"].idxmax(), "epoch"])
    return keras.models.load_model(_artifact(run_dir, name, _best(Path(), best).name, notebook), compile=False)


def _artifact(run_dir, name: str, file: str, notebook: str) -> Path:
    path = Path(run_dir).expanduser().resolve() / "models" / name / file
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run notebook {notebook} first with the same run_dir")
    return path


# --------------------------------------------------------------------------- the profile-driven entry point


def prepared_data(data_source, train_limit: int, eval_limit: int, seed: int, run_dir: str | os.PathLike,
                  tang: bool = False):
    """The run's faces, limited as the profile says and preprocessed with training statistics: the report's
    (saved to the run folder if notebook 01 has not) or, with `tang`, DLSVM's (saved as
    models/dlsvm_preprocessing.npz); returns (fer, preprocessor, {split: x})."""
    from .runtime import RunPaths

    run = RunPaths(Path(run_dir).expanduser().resolve())
    fer = fer_data.limit(fer_data.load_fer2013(data_source), train_limit, eval_limit, seed)
    prep = (TangPreprocessor() if tang else Preprocessor()).fit(fer.train.images)
    path = run.models / "dlsvm_preprocessing.npz" if tang else run.preprocessing
    if tang or not path.exists():
        prep.save(path)
    return fer, prep, {name: prep.transform(s.images) for name, s in fer.splits().items()}


def train_from_profile(name: str, *, run_dir, data_source, epochs: int, batch_size: int, seed: int,
                       train_limit: int, eval_limit: int, test_crops: int = 0, mixed_precision: bool = False,
                       jit_compile="auto", distribute: str = "none") -> tuple[Trained, dict]:
    """Train (or resume, or load) `name` in `run_dir/models/<name>` and evaluate it on val and test (DLSVM
    also averaged over `test_crops` views); the evaluation is written to evaluation.json beside the model.
    The compute options go to `train_model`."""
    tang = name.startswith("dlsvm")
    fer, _, x = prepared_data(data_source, train_limit, eval_limit, seed, run_dir, tang=tang)
    identity = {"data": str(fer.source), "train_limit": train_limit, "eval_limit": eval_limit}
    folder = Path(run_dir).expanduser().resolve() / "models" / name
    trained = train_model(name, x["train"], fer.train.labels, x["val"], fer.val.labels, folder=folder,
                          epochs=epochs, batch_size=batch_size, seed=seed, identity=identity,
                          mixed_precision=mixed_precision, jit_compile=jit_compile, distribute=distribute)
    results = {"model": name, "trainable_parameters": trainable_parameters(trained.model),
               "epochs": int(len(trained.history)), "best_epoch": trained.best_epoch,
               "train_seconds": float(trained.history["seconds"].sum())}
    for split in ("val", "test"):
        if split in x:
            results[split] = evaluate(trained.model, x[split], getattr(fer, split).labels, test_crops if tang else 0)
    tmp = folder / "evaluation.tmp"
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, folder / "evaluation.json")
    return trained, results


def main(argv: list[str] | None = None) -> int:
    from .report import SeriesError, load_profile, resolve_data, RUNS_DIR
    from .runtime import seed_everything

    parser = argparse.ArgumentParser(prog="python -m fer_utils.train", description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=MODELS)
    parser.add_argument("--profile", default="quick", help="params/<profile>.yaml: smoke, quick or full")
    parser.add_argument("--data", help="FER2013 file or folder (default: $FER2013_DATA, then data/)")
    parser.add_argument("--run-dir", help="run folder (default: runs/<profile>); the notebooks read it")
    parser.add_argument("--epochs", type=int, help="train to this many epochs instead of the profile's")
    parser.add_argument("--test-crops", type=int, default=len(CROP_VIEWS),
                        help=f"DLSVM: test views averaged, 1-{len(CROP_VIEWS)} (default {len(CROP_VIEWS)})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S",
                        stream=sys.stderr)
    try:
        params = load_profile(args.profile)
        seed_everything(params["seed"])
        _, results = train_from_profile(
            args.model, run_dir=args.run_dir or RUNS_DIR / args.profile, data_source=resolve_data(args.data),
            epochs=args.epochs or params[EPOCHS_KEY[args.model]], batch_size=params["batch_size"],
            seed=params["seed"], train_limit=params["train_limit"], eval_limit=params["eval_limit"],
            test_crops=args.test_crops, mixed_precision=params["mixed_precision"], jit_compile=params["jit_compile"],
            distribute=params["distribute"])
    except (SeriesError, TrainingMismatch, FileNotFoundError, ValueError, KeyError) as e:
        print(f"fer_utils.train: {e}", file=sys.stderr)
        return 1
    summary = {s: round(results[s]["accuracy"], 4) for s in ("val", "test") if s in results}
    print(f"{args.model}: {results['epochs']} epochs, best epoch {results['best_epoch']}, accuracy {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
