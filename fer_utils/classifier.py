"""A trained model ready to read faces (`Classifier`): loaded from a .keras file with its preprocessing
statistics, from a run folder (its best model on val), or from a folder written by `fer-report export`
(`fer_utils.onnx_reader`, run by onnxruntime without TensorFlow); by default the committed reference model that
scored best on val. Its probabilities average the test-time views chosen for it on val, divided by the
temperature fitted on val (`fer_utils.calibration`)."""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import faces, paths, preprocess, registry
from .labels import CLASS_NAMES, IMAGE_SIDE
from .errors import UserError
from .runtime import import_keras_quietly, set_jit_compile
from .views import probabilities, view_outputs, views_of

REFERENCE = paths.PROJECT_ROOT / "reference"  # the committed reference run: its best model reads by default
REFERENCE_EXPORT = REFERENCE / "onnx"  # the default model and the face detector as ONNX (`fer-report export`)
RUNTIMES = ("auto", "keras", "onnx")
DEFAULT_VIEWS = "mirror"  # for a model whose results name no views chosen on val
FEW_EPOCHS = 10  # a model trained for fewer epochs is named as such (the smoke profile trains 2)


class ModelError(UserError):
    """A model that cannot classify FER2013 faces; the message names the file."""


@dataclass
class Classifier:
    """A trained model, the preprocessing statistics it was trained with, where it came from, and the test-time
    view set (`fer_utils.views.VIEW_SETS`) its outputs are averaged over; its probabilities are always
    probabilities (a softmax of an SVM head's scores)."""

    model: object
    statistics: preprocess.Preprocessor
    source: str
    views: str = DEFAULT_VIEWS
    epochs: int | None = None  # as its results record says, where it has one
    scores: bool = False  # the model gives SVM scores, turned into probabilities by a softmax
    temperature: float | None = None  # fitted on val for its chosen views (`fer_utils.calibration`); None: none
    name: str = ""  # its registry name
    preprocessing: str = "report"  # the kind of its preprocessing statistics (`fer_utils.preprocess.KINDS`)
    runtime: str = "keras"  # what computes it: Keras, or onnxruntime on an export (`fer_utils.onnx_reader`)

    def described(self) -> str:
        """Where the model came from, and a warning when it trained too few epochs to be read seriously."""
        few = self.epochs is not None and self.epochs < FEW_EPOCHS
        return self.source + (f" (trained for only {self.epochs} epoch{'s' if self.epochs != 1 else ''}, as the "
                              f"smoke profile trains: its answers say little)" if few else "")

    def calibration(self) -> str:
        """How far its probabilities are calibrated, in words."""
        if self.temperature is None:
            return "probabilities not calibrated (no temperature fitted for this model and these views)"
        return f"probabilities calibrated on val (temperature {self.temperature:.2f})"

    def probabilities(self, crops: np.ndarray) -> np.ndarray:
        """(n, 7) class probabilities of 48x48 uint8 faces, averaged over the classifier's views, divided by its
        temperature where one was fitted."""
        if not len(crops):
            return np.zeros((0, len(CLASS_NAMES)), np.float32)
        outputs = view_outputs(self.model, self.statistics.transform(crops), self.views)
        return probabilities(outputs, self.scores, self.temperature or 1.0).astype(np.float32)


def load_classifier(model: str | os.PathLike | None = None, views: str | None = None,
                    runtime: str = "auto") -> Classifier:
    """`model`: a .keras file (the statistics of its own preprocessing, named by its registry entry, beside it or
    one folder up: preprocessing.npz, or tang_preprocessing.npz for DLSVM), a run folder (its best model on val
    among those with the report's preprocessing), or a folder written by `fer-report export`; by default the
    committed reference model that scored best on val (PublicTest). `views`: a view set of
    `fer_utils.views.VIEW_SETS`; by default the one the model's results chose on val (the mirror image where
    they name none). `runtime`: one of RUNTIMES; "auto" is Keras where TensorFlow is installed, else onnxruntime
    on the export (by default the committed export of the default model, `REFERENCE_EXPORT`)."""
    if views is not None:
        views_of(views)
    if runtime not in RUNTIMES:
        raise UserError(f"--runtime: unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    from . import onnx_reader

    export = model is not None and Path(model).is_dir() and onnx_reader.is_export(model)
    if runtime == "keras" and export:
        raise UserError(f"--model {model}: an ONNX export, read with --runtime onnx (or auto), not keras")
    if runtime == "keras" and not keras_installed():
        raise UserError("--runtime keras: TensorFlow is not installed here; leave --runtime out to read faces "
                        "with onnxruntime")
    if export or runtime == "onnx" or not keras_installed():
        if model is not None and not export:
            raise UserError(f"--model {model}: onnxruntime reads a folder written by fer-report export"
                            f"{'' if keras_installed() else ' (TensorFlow is not installed here)'}; export it "
                            f"first: fer-report export --model {model} --out FOLDER")
        classifier = _exported(Path(model) if export else REFERENCE_EXPORT)
    else:
        classifier = _located(model)
        faces.use_onnx_detector(None)
    if views is not None and views != classifier.views:  # its temperature was fitted for the views chosen on val
        classifier.views, classifier.temperature = views, None
    return classifier


def _located(model: str | os.PathLike | None) -> Classifier:
    if model is None:
        return _reference_best()
    path = Path(model).expanduser()
    if path.is_dir():
        return _run_best(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file or run folder")
    record = _record_of(path)
    name = record.get("model") or path.stem
    spec = registry.MODELS.get(name) or registry.MODELS.get(path.parent.name)
    kind = spec.preprocessing if spec is not None else "report"  # the model's own preprocessing
    wanted = paths.RunPaths(path.parent).statistics(kind).name
    statistics = next((p / wanted for p in (path.parent, path.parent.parent) if (p / wanted).is_file()), None)
    if statistics is None:
        raise ModelError(f"{path}: no {wanted} beside it or in its parent folder (the statistics it was trained "
                         f"with)")
    try:
        loaded = preprocess.KINDS[kind].load(statistics)
    except (OSError, ValueError, KeyError) as e:
        raise ModelError(f"{statistics}: not preprocessing statistics this project can read ({e})") from None
    return Classifier(load_model(path), loaded, paths.shown_path(path),
                      record.get("val", {}).get("views", DEFAULT_VIEWS), record.get("epochs"),
                      scores=spec is not None and spec.scores,
                      temperature=_temperature_of(name, path.parent.parent / "results.json",
                                                  path.parent.parent / "calibration.json"), name=name,
                      preprocessing=kind)


def keras_installed() -> bool:
    """Whether TensorFlow and Keras can be imported here (the reader's light install has neither)."""
    from importlib.util import find_spec

    return find_spec("tensorflow") is not None and find_spec("keras") is not None


def _exported(folder: Path) -> Classifier:
    """The classifier of an export folder, run by onnxruntime; from now on MTCNN finds faces with its networks."""
    from . import onnx_reader

    export = onnx_reader.read_export(folder)
    faces.use_onnx_detector(export.detector)
    found = export.description
    return Classifier(export.expression, export.statistics,
                      f"{found['source']} exported to {paths.shown_path(folder)}", found["views"], found.get("epochs"),
                      found["scores"], found.get("temperature"), found["model"], found["preprocessing"]["kind"],
                      runtime="onnx")


def _temperature_of(name: str, *files: Path) -> float | None:
    """The temperature fitted on val for model `name` (`fer_utils.calibration`) in the first of `files` that has
    one: a reference run's results.json (its "calibration") or a run's models/calibration.json; else None."""
    for file in files:
        try:
            found = json.loads(file.read_text())
        except (OSError, ValueError):
            continue
        found = found.get("calibration", {}) if file.name == "results.json" else found
        temperature = found.get(name, {}).get("temperature") if isinstance(found, dict) else None
        if isinstance(temperature, (int, float)) and temperature > 0:
            return float(temperature)
    return None


def _record_of(path: Path) -> dict:
    """The results record of the model file `path`: results.json beside it (a training folder's) or one folder
    up (a reference run's, listing its models); empty where neither has one."""
    from .results import RESULTS_FILE

    for record_path, key in ((path.parent / RESULTS_FILE, None),
                             (path.parent.parent / RESULTS_FILE, path.stem)):
        if record_path.is_file():
            record = json.loads(record_path.read_text())
            record = record.get("models", {}).get(key, {}) if key else record
            if record:
                return record
    return {}


def load_model(path: Path):
    """The inference network (`fer_utils.export.inference_network`: float32, no augmentation) of a Keras model
    that takes (48, 48, 1) faces and gives 7 classes; ModelError names the file otherwise."""
    import_keras_quietly()
    import keras

    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path}: not a Keras model (.keras files are zip archives)")
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as e:  # Keras raises many types for a damaged or foreign archive
        raise ModelError(f"{path}: not a Keras model this project can load ({faces._first_line(e)})") from None
    expected_in, expected_out = (None, IMAGE_SIDE, IMAGE_SIDE, 1), (None, len(CLASS_NAMES))
    if tuple(model.input_shape) != expected_in:
        raise ModelError(f"{path}: the model takes input of shape {tuple(model.input_shape)[1:]}, not "
                         f"{expected_in[1:]} faces")
    if tuple(model.output_shape) != expected_out:
        raise ModelError(f"{path}: the model gives {tuple(model.output_shape)[1:]} outputs, not "
                         f"{len(CLASS_NAMES)} classes")
    from .models import inference_network

    try:
        return set_jit_compile(inference_network(model))
    except ValueError as e:
        raise ModelError(f"{path}: {e} (not a network this project reads)") from None


def _reference_best() -> Classifier:
    from . import results

    record = json.loads((REFERENCE / results.RESULTS_FILE).read_text())["models"]
    names = [n for n in record if (REFERENCE / "models" / f"{n}.keras").is_file()
             and registry.get(n).preprocessing == "report"]
    if not names:
        raise ModelError(f"{REFERENCE / 'models'}: no committed model; name one with --model")
    best = max(names, key=lambda n: record[n]["val"]["accuracy"])
    return load_classifier(REFERENCE / "models" / f"{best}.keras")


def _run_best(run: Path) -> Classifier:
    from . import results

    where = paths.RunPaths(run.resolve())
    records = {n: r for n, r in results.collect(run).items() if registry.get(n).preprocessing == "report"}
    if not records:
        raise ModelError(f"{run}: not a run folder with a trained model (no models/<name>/results.json)")
    best = max(records, key=lambda n: records[n]["val"]["accuracy"])
    from .loading import load_best
    from .models import inference_network

    return Classifier(set_jit_compile(inference_network(load_best(run, best))),
                      preprocess.Preprocessor.load(where.statistics("report")),
                      f"{paths.shown_path(run)} ({best})", records[best]["val"].get("views", DEFAULT_VIEWS),
                      records[best]["epochs"], temperature=_temperature_of(best, where.calibration), name=best)
