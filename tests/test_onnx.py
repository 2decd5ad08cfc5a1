"""The ONNX export and the reader without TensorFlow: the committed export gives the Keras model's probabilities
on PrivateTest faces and MTCNN's boxes on photos; `predict` on onnxruntime writes what it writes on Keras, also in
a virtual environment where TensorFlow cannot be imported; an export that does not match its JSON is refused in
one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage
from PIL import Image

from fer_utils import atomic, cli, faces, onnx_reader, paths, predict
from fer_utils.classifier import REFERENCE, REFERENCE_EXPORT
from tests.fer_files import real_fer2013

SAMPLES = Path(skimage.__file__).parent / "data"
ASTRONAUT, COFFEE = SAMPLES / "astronaut.png", SAMPLES / "coffee.png"
TOLERANCE = 1e-4  # probabilities: onnxruntime and Keras compute the same float32 network in different orders


@pytest.fixture(scope="module")
def keras_classifier():
    return predict.load_classifier(runtime="keras")


@pytest.fixture(scope="module")
def committed():
    return onnx_reader.read_export(REFERENCE_EXPORT)


@pytest.fixture(scope="module")
def onnx_classifier():
    classifier = predict.load_classifier(runtime="onnx")
    yield classifier
    faces.use_onnx_detector(None)  # the rest of the session finds faces on TensorFlow again


@pytest.fixture(scope="module")
def test_faces():
    fer = real_fer2013()
    chosen = np.random.default_rng(0).choice(len(fer.test.images), 1000, replace=False)  # the split is in class order
    return fer.test.images[chosen], fer.test.labels[chosen]


def test_the_committed_export_is_the_default_model_as_exported(keras_classifier, committed):
    described = committed.description
    assert described["model"] == keras_classifier.name and described["source"] == keras_classifier.source
    assert described["views"] == keras_classifier.views and described["epochs"] == keras_classifier.epochs
    assert described["temperature"] == pytest.approx(keras_classifier.temperature, abs=1e-12)
    for key in keras_classifier.statistics.ARRAYS:
        np.testing.assert_array_equal(getattr(committed.statistics, key), getattr(keras_classifier.statistics, key))


def test_onnxruntime_gives_the_keras_probabilities_on_1000_privatetest_faces(keras_classifier, onnx_classifier,
                                                                            test_faces):
    test_faces, labels = test_faces
    x = keras_classifier.statistics.transform(test_faces)
    keras_network = np.asarray(keras_classifier.model.predict(x, verbose=0))
    onnx_network = onnx_classifier.model.predict(x)
    np.testing.assert_allclose(onnx_network, keras_network, atol=TOLERANCE, rtol=0)
    assert (onnx_network.argmax(1) == labels).mean() > 0.62  # the tuned CNN, plain: 66.1% on all of PrivateTest
    read = onnx_classifier.probabilities(test_faces[:200])  # with its 18 views and temperature, as predict writes
    np.testing.assert_allclose(read, keras_classifier.probabilities(test_faces[:200]), atol=TOLERANCE, rtol=0)


def test_the_inference_network_computes_in_float32_without_augmentation(keras_classifier):
    network = keras_classifier.model
    assert "augmentation" not in [layer.name for layer in network.layers]
    assert {layer.dtype_policy.name for layer in network.layers} == {"float32"}


def _photos(folder: Path) -> dict[str, np.ndarray]:
    """The test photos: the astronaut upright, turned by 25 degrees, halved; four FER-like faces in a row (the
    astronaut's face cut out and mirrored); a photo without a face."""
    astronaut = faces.read_photo(ASTRONAUT)
    turned = np.asarray(Image.fromarray(astronaut).rotate(25, resample=Image.Resampling.BILINEAR, expand=True,
                                                          fillcolor=(128, 128, 128)))
    face = astronaut[40:200, 140:300].astype(np.int16)
    row = np.hstack([face, face[:, ::-1], face * 0.7, np.clip(face * 1.2 + 20, 0, 255)]).astype(np.uint8)
    return {"upright": astronaut, "turned": turned, "halved": cv2.resize(astronaut, (256, 256)),
            "row of four": row, "coffee": faces.read_photo(COFFEE)}


def test_mtcnn_on_onnx_finds_the_boxes_and_landmarks_mtcnn_finds_on_tensorflow(committed, tmp_path):
    """`fer_utils.mtcnn_stages` on the exported networks against the `mtcnn` package on TensorFlow: the same faces,
    boxes and landmarks within a pixel, the same confidences."""
    found_any = 0
    for name, photo in _photos(tmp_path).items():
        faces.use_onnx_detector(None)
        tensorflow_rows = faces._mtcnn_rows(photo)
        faces.use_onnx_detector(committed.detector)
        try:
            onnx_rows = faces._mtcnn_rows(photo)
        finally:
            faces.use_onnx_detector(None)
        assert onnx_rows.shape == tensorflow_rows.shape, name
        np.testing.assert_allclose(onnx_rows[:, 1:5], tensorflow_rows[:, 1:5], atol=1, err_msg=name)  # a pixel
        np.testing.assert_allclose(onnx_rows[:, 6:], tensorflow_rows[:, 6:], atol=1, err_msg=name)
        np.testing.assert_allclose(onnx_rows[:, 5], tensorflow_rows[:, 5], atol=TOLERANCE, err_msg=name)
        found_any += len(onnx_rows)
    assert found_any >= 7  # the astronaut three times, the row's four faces


def _predict(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["predict", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_on_onnx_writes_what_predict_on_keras_writes(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, photo in _photos(tmp_path).items():
        Image.fromarray(photo).save(photos / f"{name}.png")
    runs = {}
    for runtime in ("keras", "onnx"):
        code, out, err = _predict(capsys, photos, "--out", tmp_path / runtime, "--runtime", runtime)
        assert code == 1 and "coffee.png: no face found" in err  # the photo without a face
        runs[runtime] = out.splitlines()
    assert runs["onnx"][:-1] == [line.replace("/keras/", "/onnx/") for line in runs["keras"][:-1]]
    assert "exported to reference/onnx" in runs["onnx"][-1]
    keras_table, onnx_table = ((tmp_path / r / predict.CSV_NAME).read_text().splitlines() for r in ("keras", "onnx"))
    assert len(keras_table) == len(onnx_table) == 8
    for keras_row, onnx_row in zip(keras_table[1:], onnx_table[1:]):
        assert keras_row.split(",")[-1] == onnx_row.split(",")[-1]  # the top expression
        assert _rows([keras_row])[:5] == _rows([onnx_row])[:5]  # face number and box
        # probabilities: 1e-4 and the CSV's rounding to 4 decimals; a tilted face is cut out after a second look
        # at it turned level, whose box moves by a few hundredths of a pixel between the runtimes
        tolerance = 1e-3 if "turned" in keras_row else 2e-4
        assert _rows([onnx_row])[5:] == pytest.approx(_rows([keras_row])[5:], abs=tolerance), keras_row
    for image in sorted((tmp_path / "keras").glob("*.png")):
        a, b = (np.asarray(Image.open(tmp_path / r / image.name), np.int16) for r in ("keras", "onnx"))
        share = 0.01 if image.stem == "turned" else 0.001  # the tilted face's cut moves a few grey levels
        assert a.shape == b.shape and (np.abs(a - b) > 0).mean() < share, image.name


def _rows(table: list[str]) -> list[float]:
    """The numbers of predictions.csv rows (face, box, probabilities), their file names and top classes left out."""
    return [float(v) for line in table for v in line.split(",")[1:-1]]


@pytest.mark.xdist_group("light")
def test_predict_reads_the_astronaut_where_tensorflow_is_not_installed(tmp_path):
    """A virtual environment with the base install and its [onnx] extra only: `import tensorflow` fails there,
    and `fer-report predict` on the README's photo writes the table and the photo the full install writes."""
    venv = tmp_path / "light"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e",
                              f"{paths.PROJECT_ROOT}[onnx]"], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    no_tf = subprocess.run([str(python), "-c", "import tensorflow"], capture_output=True, text=True)
    assert no_tf.returncode != 0 and "ModuleNotFoundError" in no_tf.stderr
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    light = subprocess.run([str(venv / "bin" / "fer-report"), "predict", str(ASTRONAUT), "--out",
                            str(tmp_path / "light-out")], capture_output=True, text=True, env=environ)
    assert light.returncode == 0, light.stderr
    assert cli.main(["predict", str(ASTRONAUT), "--out", str(tmp_path / "full-out"), "--runtime", "keras"]) == 0
    light_table, full_table = ((tmp_path / f"{r}-out" / predict.CSV_NAME).read_text().splitlines()
                               for r in ("light", "full"))
    assert _rows(light_table[1:]) == pytest.approx(_rows(full_table[1:]), abs=2e-4)
    assert light_table[1].split(",")[-1] == full_table[1].split(",")[-1] == "happy"
    assert "astronaut.png: 1 face: happy" in light.stdout
    (tmp_path / "clip.mp4").write_bytes(b"")  # refused before it is opened
    video = subprocess.run([str(venv / "bin" / "fer-report"), "predict", str(tmp_path / "clip.mp4"), "--out",
                            str(tmp_path / "video-out")], capture_output=True, text=True, env=environ)
    assert video.returncode == 1 and "reading videos needs pandas and matplotlib" in video.stderr


def _tampered(tmp_path: Path, change) -> Path:
    folder = tmp_path / "export"
    shutil.copytree(REFERENCE_EXPORT, folder)
    change(folder)
    return folder


def _edit_json(**changes):
    def change(folder: Path) -> None:
        path = folder / onnx_reader.EXPORT_JSON
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return change


def _swapped_in(folder: Path, network: str) -> None:
    """The export with `network` copied over its expression network and the JSON's digest made to agree."""
    shutil.copy(folder / network, folder / "expression.onnx")
    networks = json.loads((folder / onnx_reader.EXPORT_JSON).read_text())["networks"]
    networks["expression"]["sha256"] = atomic.file_sha256(folder / "expression.onnx")
    _edit_json(networks=networks)(folder)


@pytest.mark.parametrize("change, message", [
    (lambda f: (f / "expression.onnx").write_bytes(b"not a network"), "expression.onnx: not the file"),
    (lambda f: (f / "mtcnn-onet.onnx").unlink(), "mtcnn-onet.onnx: missing"),
    (lambda f: (f / onnx_reader.EXPORT_JSON).write_text("{"), "fer-model.json: not JSON"),
    (_edit_json(format=99), "format 99, not 1"),
    (_edit_json(classes=["happy", "sad"]), "classes ['happy', 'sad'], not FER2013's"),
    (_edit_json(views="nine"), "unknown views 'nine'"),
    (_edit_json(temperature=-1), "temperature -1 is not a positive number"),
    (lambda f: _swapped_in(f, "mtcnn-pnet.onnx"), "expression.onnx: gives 2 outputs, not one"),
])
def test_an_export_that_does_not_match_its_json_is_one_line(tmp_path, capsys, change, message):
    folder = _tampered(tmp_path, change)
    code, out, err = _predict(capsys, ASTRONAUT, "--model", folder, "--out", tmp_path / "out")
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1 and out == ""
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["--runtime", "tflite"], "--runtime: unknown runtime 'tflite'"),
    (["--runtime", "onnx", "--model", REFERENCE / "models" / "cnn.keras"],
     "onnxruntime reads a folder written by fer-report export"),
    (["--runtime", "keras", "--model", REFERENCE_EXPORT], "an ONNX export, read with --runtime onnx"),
    (["--runtime", "onnx", "--explain"], "--explain: saliency maps need the Keras runtime"),
])
def test_a_runtime_that_cannot_read_the_model_is_one_line(tmp_path, capsys, args, message):
    code, out, err = _predict(capsys, ASTRONAUT, "--out", tmp_path / "out", *args)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1


def test_export_writes_a_folder_that_reads_like_the_committed_one(tmp_path, capsys, committed):
    assert cli.main(["export", "--model", str(REFERENCE / "models" / "cnn_tuned.keras"), "--out",
                     str(tmp_path / "onnx")]) == 0
    fresh = onnx_reader.read_export(tmp_path / "onnx")
    for key in ("model", "views", "temperature", "classes", "preprocessing", "scores"):
        assert fresh.description[key] == committed.description[key], key
    (tmp_path / "holder").mkdir()
    (tmp_path / "holder" / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert cli.main(["export", "--out", str(tmp_path / "holder")]) == 1
    assert "holds notes.txt, which export does not write" in capsys.readouterr().err
    assert cli.main(["export", "--model", str(REFERENCE_EXPORT), "--out", str(tmp_path / "again")]) == 1
    assert "already an ONNX export" in capsys.readouterr().err and not (tmp_path / "again").exists()


def test_a_network_that_is_not_one_chain_is_refused():
    from fer_utils import models

    keras = models.keras
    face = keras.Input((48, 48, 1))
    left, right = keras.layers.Conv2D(2, 3)(face), keras.layers.Conv2D(2, 3)(face)
    branched = keras.Model(face, keras.layers.Dense(7)(keras.layers.Flatten()(keras.layers.Concatenate()([left, right]))))
    with pytest.raises(ValueError, match="not one chain"):
        models.inference_network(branched)
