"""The committed reference runs (reference/, and reference/full when there is one): which of their trainings a run
may start from instead of training, copying one into a run folder, and the compact form their models are kept in.

A training is the reference's when its settings as the profile declares them (data SHA-256, epochs, batch size,
seed, limits, precision) equal those its results record states under "training", and the record is as committed
(its own SHA-256, RECORD_SHA256, holds: a byte changed by hand anywhere in it is caught).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import atomic, paths, preprocess, registry, results
from .errors import UserError
from .history import TrainingMismatch, best_epoch_of, best_model, history_csv, read_history
from .settings import resolve

log = logging.getLogger(__name__)

REFERENCE_RUNS = ("reference", "reference/full")  # folders of the project that hold a reference run
MODEL_SHA256 = "model_sha256"  # in a committed results record: the SHA-256 of its committed .keras file
RECORD_SHA256 = "record_sha256"  # in a committed results record: the SHA-256 of the record without this key
MARKER = "reference.json"  # in a run's training folder that was copied from a reference run
WEIGHTS = "model.weights.h5"  # the weights inside a .keras archive


@dataclass(frozen=True)
class Reference:
    """One committed training: its reference run's folder, its results record, and its files."""

    name: str
    folder: Path
    record: dict

    @property
    def model(self) -> Path:
        return self.folder / "models" / f"{self.name}.keras"

    @property
    def history(self) -> Path:
        return self.folder / "histories" / f"{self.name}.csv"

    @property
    def outputs(self) -> Path:
        return self.folder / "outputs" / f"{self.name}.npz"

    @property
    def statistics(self) -> Path:
        return paths.RunPaths(self.folder).statistics(registry.get(self.name).preprocessing)

    def describe(self) -> dict:
        """What a run records of where its training came from."""
        return {"reference": paths.shown_path(self.folder), "model": paths.shown_path(self.model),
                "git_commit": paths.git_commit(self.model), "training": self.record["training"]}


def settings(*, data_sha256: str, epochs: int, batch_size: int, seed: int, train_limit: int,
             eval_limit: int, precision) -> dict:
    """The settings that decide whether a training is a reference's: as the profile declares them
    (precision "auto" stays "auto", whatever it resolves to on this machine)."""
    return {"data_sha256": data_sha256, "epochs": int(epochs), "batch_size": int(batch_size), "seed": int(seed),
            "train_limit": int(train_limit), "eval_limit": int(eval_limit), "precision": precision}


def profile_settings(params: dict, name: str, data_sha256: str) -> dict:
    """`settings` of `name` as profile `params` declares them."""
    compute = resolve(params, name)
    return settings(data_sha256=data_sha256, epochs=params[registry.get(name).epochs_key],
                    batch_size=compute["batch_size"], seed=params["seed"], train_limit=params.get("train_limit", 0),
                    eval_limit=params.get("eval_limit", 0), precision=compute["mixed_precision"])


def seal(record: dict) -> dict:
    """A results record as publish commits it: with its own SHA-256 (RECORD_SHA256)."""
    return {**record, RECORD_SHA256: record_sha256(record)}


def record_sha256(record: dict) -> str:
    """The SHA-256 of a results record's content (its keys sorted), RECORD_SHA256 left out."""
    content = {k: v for k, v in record.items() if k != RECORD_SHA256}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def committed_results(folder: str) -> dict:
    """The results.json of reference run `folder` ({} where it has none); a UserError naming it when it is not
    valid JSON."""
    path = paths.PROJECT_ROOT / folder / results.RESULTS_FILE
    try:
        found = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, ValueError) as e:
        shown = paths.shown_path(path)
        raise UserError(f"{shown} is damaged ({e}): `git checkout {shown}` restores it") from None
    if not isinstance(found, dict) or not isinstance(found.get("models", {}), dict):
        raise UserError(f"{paths.shown_path(path)} is not a results file (no models): `git checkout "
                        f"{paths.shown_path(path)}` restores it")
    return found


def sealed(record) -> bool:
    """Whether `record` is a results record as `fer-report publish` committed it (its RECORD_SHA256 holds)."""
    return isinstance(record, dict) and record.get(RECORD_SHA256) == record_sha256(record)


def _as_committed(record, folder: str, what: str) -> dict | None:
    """`record` where it is `sealed`, else None with one line logged naming it."""
    if not isinstance(record, dict):
        return None
    if not sealed(record):
        shown = paths.shown_path(paths.PROJECT_ROOT / folder / results.RESULTS_FILE)
        log.warning("%s: not taken from the reference run (%s: its record of %s is not as committed, its %s differs; "
                    "`git checkout %s` restores it); training it here", what, shown, what, RECORD_SHA256, shown)
        return None
    return record


def data_hashes() -> set[str]:
    """The SHA-256 of every data set the reference runs' trainings were trained on."""
    found = set()
    for folder in REFERENCE_RUNS:
        found |= {r["training"].get("data_sha256") for r in committed_results(folder).get("models", {}).values()
                  if sealed(r) and isinstance(r.get("training"), dict)}
    return found


def find(name: str, wanted: dict) -> Reference | None:
    """The committed training of `name` whose settings are `wanted`, in the first reference run that has one (and
    whose record is as committed)."""
    for folder in REFERENCE_RUNS:
        record = committed_results(folder).get("models", {}).get(name)
        if record is None or (record := _as_committed(record, folder, name)) is None:
            continue
        if record.get("training") == wanted:
            return Reference(name, paths.PROJECT_ROOT / folder, record)
    return None


def problem(ref: Reference, train_images: np.ndarray) -> str | None:
    """Why `ref`'s files cannot stand in for a training on these training faces (missing, truncated, fitted on
    other faces), or None when they can."""
    for path in (ref.model, ref.history, ref.statistics):
        if not path.is_file():
            return f"{paths.shown_path(path)} is missing"
    try:
        with zipfile.ZipFile(ref.model) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError):
        damaged = ref.model.name
    if damaged is not None:
        return f"{paths.shown_path(ref.model)} is damaged or truncated"
    if ref.record.get(MODEL_SHA256) not in (None, atomic.file_sha256(ref.model)):
        return f"{paths.shown_path(ref.model)} is not the model its results describe (replaced or swapped)"
    try:
        history = history_csv(ref.history)
    except TrainingMismatch as e:
        return str(e)
    if len(history) != ref.record["epochs"] or best_epoch_of(history) != ref.record["best_epoch"]:
        return (f"{paths.shown_path(ref.history)} holds {len(history)} epochs, best {best_epoch_of(history)}; its "
                f"results state {ref.record['epochs']}, best {ref.record['best_epoch']}")
    try:
        stats = preprocess.KINDS[registry.get(ref.name).preprocessing].load(ref.statistics)
    except (OSError, ValueError) as e:
        return f"{paths.shown_path(ref.statistics)}: {e}"
    if stats.fitted_on != preprocess.fingerprint(train_images):
        return f"{paths.shown_path(ref.statistics)} was fitted on other training faces than this data's"
    return None


def adopt(ref: Reference, run_root: str | os.PathLike, train_images: np.ndarray) -> bool:
    """Copy `ref` into the run's models/<name> (its history, its best model and a MARKER saying where it came
    from) and its preprocessing statistics into the run when the run has none, so that the training finds it
    finished and loads it. A training folder already there is moved aside. False, with one line logged, when
    `ref`'s files cannot stand in for the training or the run's saved statistics differ from its; nothing is
    left half-copied."""
    run = paths.RunPaths(Path(run_root).expanduser().resolve())
    reason = problem(ref, train_images)
    kind = registry.get(ref.name).preprocessing
    if reason is None and run.statistics(kind).exists():
        if not preprocess.same_statistics(run.statistics(kind), ref.statistics):
            reason = f"the run's {run.statistics(kind).name} differs from {paths.shown_path(ref.statistics)}"
    if reason:
        log.warning("%s: not taken from the reference run (%s); training it here", ref.name, reason)
        return False
    run.models.mkdir(parents=True, exist_ok=True)
    if not run.statistics(kind).exists():
        atomic.write_bytes(run.statistics(kind), ref.statistics.read_bytes())
    target = run.model(ref.name)
    with _scratch(run.models, ref.name) as staged:
        shutil.copyfile(ref.history, staged / "history.csv")
        shutil.copyfile(ref.model, best_model(staged, ref.record["best_epoch"]))
        atomic.write_json(staged / MARKER, ref.describe())
        if target.exists():
            set_aside(target, "its unfinished training makes way for the reference run's")
        os.replace(staged, target)
    log.info("%s: the reference run's training (%s), not trained here; --retrain trains it here", ref.name,
             paths.shown_path(ref.model))
    return True


def start_from(name: str, wanted: dict, run_root: str | os.PathLike, train_images: np.ndarray,
               retrain: bool = False) -> dict | None:
    """Where the run's training of `name` (with `settings` `wanted`) starts. A training copied from a reference
    run stays only for the same settings and without `retrain`; otherwise it is moved aside. Then, unless
    `retrain` or the run has finished this training itself, the reference's training with these settings is
    copied in (`adopt`). Returns the MARKER of the reference training the run holds now, or None: the run
    trains, resumes or loads its own."""
    folder = paths.RunPaths(Path(run_root).expanduser().resolve()).model(name)
    marker = adopted(folder)
    if marker is not None:
        if marker.get("training") == wanted and not retrain:
            return marker
        set_aside(folder, "--retrain: trained here instead" if retrain else "copied from a reference run for other "
                                                                             "settings")
    if retrain or len(read_history(folder)) >= wanted["epochs"]:
        return None
    ref = find(name, wanted)
    return adopted(folder) if ref is not None and adopt(ref, run_root, train_images) else None


def seed_paths(folder: str | os.PathLike, name: str, seed: int) -> tuple[Path, Path]:
    """Where a reference run keeps an extra-seed training of `name`: its history and its outputs (its record is in
    results.json under "seeds"; its weights are not committed)."""
    folder = Path(folder)
    return folder / "histories" / f"{name}-seed{seed}.csv", folder / "outputs" / f"{name}-seed{seed}.npz"


def take_seed(name: str, wanted: dict, folder: str | os.PathLike) -> bool:
    """Whether the extra-seed training folder `folder` holds, or now holds copied in, a reference run's results of
    that training with `settings` `wanted` (record, history and outputs, with a MARKER; no weights): True, or
    False where no reference run holds it and it must be trained."""
    folder = Path(folder)
    if adopted(folder) is not None and adopted(folder).get("training") == wanted \
            and (folder / results.RESULTS_FILE).is_file():
        return True
    for run in REFERENCE_RUNS:
        seeds = committed_results(run).get("seeds", {})
        record = seeds.get(name, {}).get(str(wanted["seed"])) if isinstance(seeds.get(name), dict) else None
        if record is None or (record := _as_committed(record, run, folder.name)) is None:
            continue
        history, outputs = seed_paths(paths.PROJECT_ROOT / run, name, wanted["seed"])
        if not record or record.get("training") != wanted or not history.is_file() or not outputs.is_file():
            continue
        folder.parent.mkdir(parents=True, exist_ok=True)
        with _scratch(folder.parent, folder.name) as staged:
            shutil.copyfile(history, staged / "history.csv")
            shutil.copyfile(outputs, staged / results.OUTPUTS_FILE)
            atomic.write_json(staged / results.RESULTS_FILE, record)
            atomic.write_json(staged / MARKER, {"reference": paths.shown_path(paths.PROJECT_ROOT / run),
                                                "training": wanted})
            if folder.exists():
                set_aside(folder, "makes way for the reference run's results of this training")
            os.replace(staged, folder)
        log.info("%s: the reference run's results of this training (%s), not trained here", folder.name, run)
        return True
    return False


def evaluation(folder: str | os.PathLike, faces: dict[str, int], view_sets) -> tuple[dict, dict] | None:
    """The reference run's evaluation of the training copied into `folder` (its record and its saved outputs,
    `fer_utils.results.evaluation_of`), where it holds one for these faces and view sets; None where the run
    must evaluate it here."""
    marker = adopted(folder)
    ref = find(Path(folder).name, marker["training"]) if marker is not None else None
    return results.evaluation_of(ref.record, ref.outputs, faces, view_sets) if ref is not None else None


def adopted(folder: str | os.PathLike) -> dict | None:
    """The MARKER of a training folder copied from a reference run, or None for a training done here."""
    path = Path(folder) / MARKER
    return json.loads(path.read_text()) if path.is_file() else None


def set_aside(folder: Path, why: str) -> Path:
    """Move a training folder aside (kept, never mixed with a new training) and return where it went."""
    aside = folder.with_name(f"{folder.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}")
    os.replace(folder, aside)
    log.info("%s: %s; moved to %s", folder.name, why, aside.name)
    return aside


class _scratch:
    """A partial folder beside `parent`'s contents, removed on exit unless it was renamed into place."""

    def __init__(self, parent: Path, name: str = "scratch"):
        self.path = parent / f"{atomic.PARTIAL_PREFIX}{uuid.uuid4().hex[:8]}-{name}"

    def __enter__(self) -> Path:
        self.path.mkdir(parents=True)
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
        return False


def save_compact(model, path: str | os.PathLike) -> Path:
    """Save a Keras model as a .keras archive whose float32 weights are stored as float16 and compressed (about
    a third of the size). Keras loads it as it is, into float32 weights; a weight float16 cannot hold (overflow)
    stays float32."""
    import h5py

    path = Path(path)
    with _scratch(path.parent) as folder:
        plain = folder / "model.keras"
        model.save(plain)
        with zipfile.ZipFile(plain) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        compact = io.BytesIO()
        with h5py.File(io.BytesIO(members[WEIGHTS]), "r") as source, h5py.File(compact, "w") as target:
            _copy_as_float16(source, target)
        members[WEIGHTS] = compact.getvalue()
        with atomic.atomic_path(path) as partial:
            with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name, blob in members.items():
                    archive.writestr(name, blob)
    return path


def _copy_as_float16(source, target) -> None:
    import h5py

    target.attrs.update(source.attrs)

    def copy(name, item):
        if isinstance(item, h5py.Group):
            target.require_group(name).attrs.update(item.attrs)
            return
        values = item[()]
        target.create_dataset(name, data=_compact(values) if values.dtype == np.float32 else values
                              ).attrs.update(item.attrs)

    source.visititems(copy)


def _compact(values: np.ndarray) -> np.ndarray:
    """A float32 array as the compact form stores it: float16 where float16 holds it."""
    half = values.astype(np.float16)
    return half if np.isfinite(half).all() else values


def same_weights(committed, model) -> bool:
    """Whether a committed model holds `model`'s weights, as they are or in the compact form."""
    mine, theirs = model.get_weights(), committed.get_weights()
    return len(mine) == len(theirs) and all(
        a.shape == b.shape and (np.array_equal(a, b) or np.array_equal(_compact(b).astype(a.dtype), a))
        for a, b in zip(theirs, mine))
