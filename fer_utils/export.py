"""`fer-report export`: a trained model's inference network (`fer_utils.loading.inference_network`) and
MTCNN's three networks as ONNX files (Keras' own export, through tf2onnx), with `EXPORT_JSON` beside them: the
class names, the preprocessing statistics, the test-time views chosen on val, the temperature fitted on val, and
each file's SHA-256. `fer_utils.onnx_reader` reads faces from such a folder with onnxruntime alone."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from . import atomic
from .errors import UserError
from .labels import CLASS_NAMES, IMAGE_SIDE
from .onnx_reader import EXPORT_JSON, FORMAT, NETWORKS
from .runtime import import_keras_quietly, quiet_stderr

DETECTOR_INPUTS = {"proposal": (None, None, None, 3), "refinement": (None, 24, 24, 3), "output": (None, 48, 48, 3)}


def export(model: str | os.PathLike | None = None, out: str | os.PathLike = "onnx", echo=print) -> Path:
    """Write `model` (as `fer-report predict --model` takes it; by default the committed model best on val) and
    MTCNN's networks into the folder `out` as ONNX files, then `EXPORT_JSON`; returns the JSON's path. A folder
    holding other files is refused; an earlier export there is replaced file by file, its JSON last."""
    from . import faces
    from .classifier import load_classifier
    from .onnx_reader import is_export

    if model is not None and Path(model).is_dir() and is_export(model):
        raise UserError(f"--model {model}: already an ONNX export; give the .keras file or run folder it came from")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file, not a folder")
    foreign = sorted(p.name for p in out.iterdir() if p.name not in (*NETWORKS.values(), EXPORT_JSON)) \
        if out.is_dir() else []
    if foreign:
        raise UserError(f"--out {out}: holds {foreign[0]}{' and more' if len(foreign) > 1 else ''}, which export "
                        f"does not write; name an empty or new folder")
    classifier = load_classifier(model, runtime="keras")
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / EXPORT_JSON  # an export whose networks are being replaced is none until its JSON is new
    manifest.unlink(missing_ok=True)
    networks = {"expression": (classifier.model, (None, IMAGE_SIDE, IMAGE_SIDE, 1))}
    detector = faces._mtcnn()
    for (name, shape), stage in zip(DETECTOR_INPUTS.items(), detector.stages):
        networks[name] = (stage._model, shape)
    files = {}
    for name, (network, shape) in networks.items():
        target = out / NETWORKS[name]
        _write_onnx(network, shape, target)
        files[name] = {"file": target.name, "sha256": atomic.file_sha256(target)}
        echo(f"fer-report export: {name} network -> {target}")
    statistics = classifier.statistics
    description = {
        "format": FORMAT,
        "model": classifier.name,
        "source": classifier.source,
        "epochs": classifier.epochs,
        "classes": list(CLASS_NAMES),
        "input": [IMAGE_SIDE, IMAGE_SIDE, 1],
        "preprocessing": {"kind": classifier.preprocessing,
                          **{key: np.asarray(getattr(statistics, key)).tolist() for key in statistics.ARRAYS}},
        "views": classifier.views,
        "scores": classifier.scores,
        "temperature": classifier.temperature,
        "networks": files,
    }
    atomic.write_json(manifest, description)
    echo(f"fer-report export: {classifier.described()}, views {classifier.views}, {classifier.calibration()} "
         f"-> {manifest}")
    return manifest


def _write_onnx(network, shape, target: Path) -> None:
    """`network` (a Keras model) as an ONNX file at `target`, written whole or not at all."""
    import_keras_quietly()
    import keras

    with atomic.atomic_path(target) as partial, quiet_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # tf2onnx's look for numpy's removed np.object
        network.export(str(partial), format="onnx", verbose=False,
                       input_signature=[keras.InputSpec(shape=shape, dtype="float32")])

