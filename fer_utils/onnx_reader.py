"""Reading faces without TensorFlow: a folder written by `fer-report export` (`fer_utils.export`), its networks run
by onnxruntime. `read_export` checks the folder against its JSON (layout, files, digests, the networks' shapes)
and gives what `fer-report predict` needs: the expression network, its preprocessing, views and temperature, and
MTCNN's three networks for `fer_utils.mtcnn_stages`. Only numpy and onnxruntime are imported here."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import atomic, preprocess
from .errors import UserError
from .labels import CLASS_NAMES, IMAGE_SIDE
from .views import VIEW_SETS

EXPORT_JSON = "fer-model.json"
FORMAT = 1  # the JSON's layout; a reader refuses another
NETWORKS = {"expression": "expression.onnx", "proposal": "mtcnn-pnet.onnx", "refinement": "mtcnn-rnet.onnx",
            "output": "mtcnn-onet.onnx"}
OUTPUTS = {"expression": 1, "proposal": 2, "refinement": 2, "output": 3}  # each network's number of outputs


class ExportError(UserError):
    """An export folder that cannot be read as one; the message names the file."""


class OnnxNetwork:
    """One ONNX network on onnxruntime's CPU provider: called on a batch, its outputs as float32 arrays; and the
    two prediction calls of a Keras model that `fer_utils.views` makes."""

    def __init__(self, path: Path):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # its warnings about unused initialisers are not the user's business
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own types for a file that is not a model
            raise ExportError(f"{path}: not an ONNX network onnxruntime can load "
                              f"({(str(e).splitlines() or [type(e).__name__])[0]})") from None
        self.path = path
        self.input = self.session.get_inputs()[0]
        self.outputs = self.session.get_outputs()

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input.name: np.ascontiguousarray(batch, dtype=np.float32)})

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:
        return self(batch)[0]

    def predict(self, batch: np.ndarray, batch_size: int = 512, verbose: int = 0) -> np.ndarray:
        return np.concatenate([self(batch[i:i + batch_size])[0] for i in range(0, len(batch), batch_size)])


@dataclass
class Export:
    """What an export folder holds, read and checked."""

    folder: Path
    description: dict
    expression: OnnxNetwork
    detector: tuple[OnnxNetwork, OnnxNetwork, OnnxNetwork]  # MTCNN's proposal, refinement and output networks
    statistics: preprocess.Statistics


def is_export(folder: str | os.PathLike) -> bool:
    """Whether `folder` is a folder with an export's JSON."""
    return (Path(folder) / EXPORT_JSON).is_file()


def read_export(folder: str | os.PathLike) -> Export:
    """The export in `folder`; ExportError names the file and what is wrong where the folder and its JSON do not
    agree."""
    folder = Path(folder)
    manifest = folder / EXPORT_JSON
    if not manifest.is_file():
        raise ExportError(f"{folder}: no {EXPORT_JSON} (not a folder written by fer-report export)")
    try:
        description = json.loads(manifest.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ExportError(f"{manifest}: not JSON ({e})") from None
    if not isinstance(description, dict) or description.get("format") != FORMAT:
        raise ExportError(f"{manifest}: format {description.get('format') if isinstance(description, dict) else None}"
                          f", not {FORMAT} (written by another version of fer-report export)")
    _check_description(manifest, description)
    networks = {}
    for name, entry in description["networks"].items():
        path = folder / entry["file"]
        if not path.is_file():
            raise ExportError(f"{path}: missing (named by {manifest})")
        if atomic.file_sha256(path) != entry["sha256"]:
            raise ExportError(f"{path}: not the file {manifest} describes (its SHA-256 differs; export again)")
        networks[name] = OnnxNetwork(path)
        if len(networks[name].outputs) != OUTPUTS[name]:
            raise ExportError(f"{path}: gives {len(networks[name].outputs)} outputs, not the {OUTPUTS[name]} of "
                              f"MTCNN's {name} network" if name != "expression" else
                              f"{path}: gives {len(networks[name].outputs)} outputs, not one")
    expression = networks["expression"]
    shape, classes = list(expression.input.shape[1:]), expression.outputs[0].shape[-1]
    if shape != description["input"] or classes != len(description["classes"]):
        raise ExportError(f"{expression.path}: takes {tuple(shape)} and gives {classes} classes, but {manifest} "
                          f"says {tuple(description['input'])} and {len(description['classes'])}")
    prep = description["preprocessing"]
    arrays = {k: np.asarray(v, np.float32) for k, v in prep.items() if k != "kind"}
    statistics = preprocess.KINDS[prep["kind"]](**arrays)
    return Export(folder, description, expression, (networks["proposal"], networks["refinement"],
                                                    networks["output"]), statistics)


def _check_description(manifest: Path, description: dict) -> None:
    """ExportError naming the first key of the export's JSON that is missing or holds what no export writes."""
    wanted = {"model": str, "source": str, "classes": list, "input": list, "preprocessing": dict, "views": str,
              "scores": bool, "networks": dict}
    for key, kind in wanted.items():
        if not isinstance(description.get(key), kind):
            raise ExportError(f"{manifest}: {key!r} is missing or not a {kind.__name__}")
    if description["classes"] != list(CLASS_NAMES):
        raise ExportError(f"{manifest}: classes {description['classes']}, not FER2013's {list(CLASS_NAMES)}")
    if description["input"] != [IMAGE_SIDE, IMAGE_SIDE, 1]:
        raise ExportError(f"{manifest}: input {description['input']}, not [48, 48, 1] faces")
    if description["views"] not in VIEW_SETS:
        raise ExportError(f"{manifest}: unknown views {description['views']!r}")
    temperature = description.get("temperature")
    if temperature is not None and not (isinstance(temperature, (int, float)) and temperature > 0):
        raise ExportError(f"{manifest}: temperature {temperature!r} is not a positive number")
    kind = description["preprocessing"].get("kind")
    if kind not in preprocess.KINDS or set(description["preprocessing"]) != {"kind", *preprocess.KINDS[kind].ARRAYS}:
        raise ExportError(f"{manifest}: preprocessing {sorted(description['preprocessing'])} is not one this "
                          f"project writes")
    if set(description["networks"]) != set(NETWORKS) or not all(
            isinstance(e, dict) and isinstance(e.get("file"), str) and isinstance(e.get("sha256"), str)
            for e in description["networks"].values()):
        raise ExportError(f"{manifest}: 'networks' must name the files of {', '.join(NETWORKS)} with their SHA-256")
