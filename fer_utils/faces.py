"""Faces in ordinary photos: reading any common image file (EXIF orientation, 16-bit, alpha, the first frame of
a GIF or multi-page TIFF), finding the faces, and cutting each out with FER2013's framing as a 48x48 grey face.

Two detectors: MTCNN (the `mtcnn` package, its weights inside its wheel, run on TensorFlow; or its networks
exported to ONNX, run by `fer_utils.mtcnn_stages` without TensorFlow), the default, which also gives five
landmarks (the eyes, the nose, the mouth's corners) and finds faces tilted by up to about 60 degrees; and
OpenCV's bundled frontal-face Haar cascade, much faster, upright faces only, no landmarks.

FER2013's faces are tight crops, brow to chin. Each detector's box is framed as FER2013 frames a face
(`FRAMINGS`, measured by `benchmarks/face_framing.py` on FER2013 faces placed into larger images), and a face with
landmarks is first turned about its frame's centre so that its eyes are level."""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .labels import IMAGE_SIDE
from .errors import UserError

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
DETECTORS = ("mtcnn", "haar")
DETECTOR = "mtcnn"
DETECTION_SIDE = 1280  # photos with a longer side are downscaled to this for detection (crops use the original)
MIN_FACE = 40  # pixels of the original photo: smaller faces are not looked for
MTCNN_MIN_FACE = 20  # MTCNN's own smallest face: photos are scaled so that MIN_FACE becomes this for it
# MTCNN's thresholds for its three stages (its own are 0.6, 0.7, 0.8): lower first stages pass more of FER2013's
# tight, low-resolution faces on to the last one, whose higher threshold keeps false finds out of large photos
MTCNN_THRESHOLDS = {"threshold_pnet": 0.4, "threshold_rnet": 0.4, "threshold_onet": 0.95}
LEVEL_TILT = 8  # degrees: a face tilted more is looked at again, turned level, for the box that frames it
LEVEL_CONTEXT, LEVEL_SIDE = 2.5, 160  # that second look: a square of 2.5 box sides about the face, at 160 px
CASCADE = "haarcascade_frontalface_alt2.xml"  # of the cascades OpenCV ships, the one with no false
# finds on the astronaut at any size from 512 to 1280 px, and as many FER2013 faces found as the default one


@dataclass(frozen=True)
class Framing:
    """FER2013's frame around a detected box (x, y, w, h): a square of side `scale` * w centred `dx` * w right
    and `dy` * w below the box's centre (right and below as the face's eyes run, for a tilted face)."""

    scale: float
    dx: float = 0.0
    dy: float = 0.0

    def frame(self, box, tilt: float = 0.0) -> tuple[float, float, float]:
        """(centre x, centre y, side) of FER2013's frame for a detected box, of a face tilted `tilt` degrees."""
        x, y, w, h = box
        angle = np.radians(tilt)
        right, below = self.dx * w, self.dy * w
        return (x + w / 2 + right * np.cos(angle) - below * np.sin(angle),
                y + h / 2 + right * np.sin(angle) + below * np.cos(angle), self.scale * w)


# Measured by benchmarks/face_framing.py on the PublicTest faces each detector found once (medians; see its output
# for the quartiles and the check of the scale): the frame's side in box widths and its centre's offset.
FRAMINGS = {"haar": Framing(scale=1.05, dy=0.01), "mtcnn": Framing(scale=1.26, dx=0.01, dy=-0.01)}


@dataclass(frozen=True)
class Face:
    """A face found in a photo by `detector`: its box (x, y, w, h) in the photo's pixels, its five landmarks
    (5, 2): the eyes (left, right as the image shows them), the nose, the mouth's left and right corners (None
    from the Haar cascade), and the detector's confidence. A tilted face's box is wider than its upright one, so
    the face is framed by `level_box`."""

    box: tuple[int, int, int, int]
    detector: str = "haar"
    landmarks: np.ndarray | None = None
    confidence: float = 1.0
    level_box: tuple[float, float, float, float] | None = None  # the box the detector gives the face turned level:
    # its size, and its centre in the photo's pixels (the box itself where the face is not tilted)

    @property
    def tilt(self) -> float | None:
        """Degrees the line from the left to the right eye turns clockwise in the image (None without landmarks)."""
        if self.landmarks is None:
            return None
        (lx, ly), (rx, ry) = self.landmarks[:2]
        return float(np.degrees(np.arctan2(ry - ly, rx - lx)))


class PhotoError(UserError):
    """A file that cannot be read as a photo; the message names the file."""


def read_photo(path: str | os.PathLike) -> np.ndarray:
    """The photo as RGB uint8 (H, W, 3), upright as its EXIF orientation says; 16-bit and float images are
    scaled to 8 bits, transparent pixels are put on white; of a GIF or multi-page TIFF, the first frame. PhotoError
    names the file if it is not a readable image or is too large to decode safely (Pillow's limit)."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                image = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        width, height = _size_unchecked(path)
        raise PhotoError(f"{path}: image too large to decode safely ({width}x{height} = {width * height / 1e6:.0f} "
                         f"megapixels; the limit is {Image.MAX_IMAGE_PIXELS / 1e6:.0f})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        known = isinstance(e, UnidentifiedImageError) or not path.stat().st_size
        reason = "not an image" if known else "truncated or damaged image"
        raise PhotoError(f"{path}: {reason} ({_first_line(e)})") from None
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = values.max()
        grey = (values / top * 255 if top > 0 else values).round().clip(0, 255).astype(np.uint8)
        return np.repeat(grey[..., np.newaxis], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("RGB"))


def grey(photo: np.ndarray) -> np.ndarray:
    """RGB uint8 to grey uint8 with the ITU-R 601 weights (as Pillow's "L" mode and FER2013's faces); a grey
    photo is returned as it is."""
    return photo if photo.ndim == 2 else cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)


def check_detector(detector: str) -> None:
    """A one-line error where `detector` is not one of DETECTORS (before a model is loaded for nothing)."""
    if detector not in DETECTORS:
        raise UserError(f"--detector: unknown detector {detector!r}; choose one of {', '.join(DETECTORS)}")


def detect(photo: np.ndarray, min_face: int = MIN_FACE, detector: str = DETECTOR) -> list[Face]:
    """The faces of a photo (RGB or grey uint8), largest first, of side at least `min_face` pixels, found by
    `detector` (one of DETECTORS). Photos larger than DETECTION_SIDE are searched downscaled; boxes and landmarks
    are given in the photo's own pixels."""
    if min_face < 1:
        raise UserError(f"--min-face must be a positive number of pixels, got {min_face}")
    check_detector(detector)
    found = _mtcnn_faces(photo, min_face) if detector == "mtcnn" else _haar_faces(grey(photo), min_face)
    return sorted(found, key=lambda face: -face.box[2])


def _haar_faces(grey_photo: np.ndarray, min_face: int) -> list[Face]:
    factor = min(1.0, DETECTION_SIDE / max(grey_photo.shape))
    small = _scaled(grey_photo, factor)
    side = max(1, int(round(min_face * factor)))
    found = _cascade().detectMultiScale(cv2.equalizeHist(small), scaleFactor=1.1, minNeighbors=3,
                                        minSize=(side, side))
    boxes = (np.asarray(found, dtype=np.float64).reshape(-1, 4) / factor).round().astype(int)
    return [Face(tuple(int(v) for v in box), "haar") for box in boxes]


def _mtcnn_faces(photo: np.ndarray, min_face: int) -> list[Face]:
    rgb = photo if photo.ndim == 3 else np.repeat(photo[..., np.newaxis], 3, axis=2)
    factor = min(1.0, DETECTION_SIDE / max(rgb.shape[:2]), MTCNN_MIN_FACE / min_face)
    found = []
    for row in _mtcnn_rows(_scaled(rgb, factor)):
        x1, y1, x2, y2 = row[1:5] / factor
        box = tuple(int(round(v)) for v in (x1, y1, x2 - x1, y2 - y1))
        if max(box[2], box[3]) >= min_face:
            face = Face(box, "mtcnn", row[6:16].reshape(2, 5).T / factor, float(row[5]))
            found.append(dataclasses.replace(face, level_box=_level_box(rgb, face)))
    return found


def _mtcnn_rows(rgb: np.ndarray) -> np.ndarray:
    """MTCNN's finds in an RGB image, a row each: image, x1, y1, x2, y2, confidence, then x of the eyes, the
    nose and the mouth's corners, then their y."""
    if min(rgb.shape[:2]) < MTCNN_MIN_FACE:
        return np.zeros((0, 16))
    if "onnx" in _DETECTORS:
        from . import mtcnn_stages

        rows = mtcnn_stages.detect(_DETECTORS["onnx"], rgb, MTCNN_MIN_FACE, tuple(MTCNN_THRESHOLDS.values()))
        return np.hstack([np.zeros((len(rows), 1)), rows])
    detector = _mtcnn()
    tensorflow_log = logging.getLogger("tensorflow")
    level = tensorflow_log.level
    tensorflow_log.setLevel(logging.ERROR)  # its image pyramid's sizes differ per photo: retracing warnings
    try:
        rows = detector.detect_faces(rgb, box_format="xyxy", output_type="numpy", **MTCNN_THRESHOLDS)
    finally:
        tensorflow_log.setLevel(level)
    return np.asarray(rows, dtype=np.float64).reshape(-1, 16)


def _level_box(rgb: np.ndarray, face: Face) -> tuple[float, float, float, float]:
    """The face's box as MTCNN gives it once the face is turned level on its eyes (a second look at a square of
    LEVEL_CONTEXT box sides about it, LEVEL_SIDE px wide), as (x, y, w, h) centred where that box's centre lies
    in the photo. The detected box where the face tilts less than LEVEL_TILT degrees or the second look finds
    no face at the middle."""
    x, y, w, h = face.box
    if abs(face.tilt) < LEVEL_TILT:
        return tuple(map(float, face.box))
    centre, middle = np.array([x + w / 2, y + h / 2]), (LEVEL_SIDE - 1) / 2
    scale = LEVEL_SIDE / (LEVEL_CONTEXT * max(w, h))
    matrix = _turning(centre, face.tilt, scale, LEVEL_SIDE)
    rotation = matrix[:, :2] / scale
    square = cv2.warpAffine(rgb, matrix, (LEVEL_SIDE, LEVEL_SIDE), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    rows = _mtcnn_rows(square)
    if not len(rows):
        return tuple(map(float, face.box))
    centres = (rows[:, 1:3] + rows[:, 3:5]) / 2
    nearest = rows[np.argmin(np.linalg.norm(centres - middle, axis=1))]
    level_centre = centre + rotation.T @ (((nearest[1:3] + nearest[3:5]) / 2) - middle) / scale
    level_w, level_h = (nearest[3:5] - nearest[1:3]) / scale
    return (float(level_centre[0] - level_w / 2), float(level_centre[1] - level_h / 2), float(level_w), float(level_h))


def _turning(centre, tilt: float, scale: float, size: int) -> np.ndarray:
    """The 2x3 map that turns a photo by -`tilt` degrees about `centre` (x, y), scales it by `scale` and puts
    `centre` in the middle of a `size` x `size` square."""
    angle = np.radians(tilt)
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    shift = (size - 1) / 2 - scale * rotation @ np.asarray(centre, np.float64)
    return np.hstack([scale * rotation, shift[:, np.newaxis]])


def _scaled(image: np.ndarray, factor: float) -> np.ndarray:
    return image if factor == 1 else cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


def turned(grey_photo: np.ndarray, centre, side: float, tilt: float) -> np.ndarray:
    """The 48x48 uint8 square of `side` pixels about `centre` (x, y), turned by -`tilt` degrees so that a face
    tilted `tilt` degrees stands level; parts outside the photo repeat its edge. A square larger than 48 px is
    turned at its own resolution, then shrunk by area averaging."""
    size = max(IMAGE_SIDE, int(np.ceil(side)))
    square = cv2.warpAffine(grey_photo, _turning(centre, tilt, size / side, size), (size, size),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return square if size == IMAGE_SIDE else cv2.resize(square, (IMAGE_SIDE, IMAGE_SIDE), interpolation=cv2.INTER_AREA)


def crop(grey_photo: np.ndarray, box, framing: Framing = FRAMINGS["haar"]) -> np.ndarray:
    """FER2013's 48x48 frame around a detected box, uint8; parts of the frame outside the photo repeat its edge."""
    cx, cy, side = framing.frame(box)
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    size = max(1, int(round(side)))
    height, width = grey_photo.shape
    pad = max(0, -left, -top, left + size - width, top + size - height)
    padded = cv2.copyMakeBorder(grey_photo, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else grey_photo
    window = padded[top + pad:top + pad + size, left + pad:left + pad + size]
    shrink = size >= IMAGE_SIDE
    return cv2.resize(window, (IMAGE_SIDE, IMAGE_SIDE), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def cut(grey_photo: np.ndarray, face: Face, scale: float = 1.0, framing: Framing | None = None) -> np.ndarray:
    """A found face as the model sees it, 48x48 uint8: FER2013's frame around its box (`framing`, by default its
    detector's in FRAMINGS, `scale` times as large), turned so that its eyes are level where it has landmarks."""
    framing = framing or FRAMINGS[face.detector]
    framing = Framing(framing.scale * scale, framing.dx, framing.dy)
    if face.tilt is None:
        return crop(grey_photo, face.box, framing)
    *centre, side = framing.frame(face.level_box or face.box, face.tilt)
    return turned(grey_photo, centre, side, face.tilt)


def faces_in(photo: np.ndarray, min_face: int = MIN_FACE, detector: str = DETECTOR
             ) -> tuple[list[Face], np.ndarray]:
    """The faces found in a photo (RGB or grey) and their 48x48 crops as the model sees them ((n, 48, 48) uint8)."""
    found = detect(photo, min_face, detector)
    grey_photo = grey(photo)
    crops = np.stack([cut(grey_photo, face) for face in found]) if found else \
        np.zeros((0, IMAGE_SIDE, IMAGE_SIDE), np.uint8)
    return found, crops


def boxes(found: list[Face]) -> np.ndarray:
    """The boxes of `found` as an (n, 4) int array."""
    return np.array([face.box for face in found], dtype=int).reshape(-1, 4)


def sample_photo() -> Path:
    """scikit-image's astronaut.png (Eileen Collins, NASA, public domain): a real photograph with one face."""
    import skimage

    return Path(skimage.__file__).parent / "data" / "astronaut.png"


def framing_similarity(grey_photo: np.ndarray, face: Face, mean_face: np.ndarray, scales=(0.8, 1.0, 1.3)) -> dict:
    """How much the face cut at each of `scales` times its framing looks like FER2013's mean face: the Pearson
    correlation of their pixels, per scale (the best framing correlates most)."""
    return {scale: float(np.corrcoef(cut(grey_photo, face, scale).ravel().astype(np.float64),
                                     np.ravel(mean_face))[0, 1]) for scale in scales}


_DETECTORS: dict[str, object] = {}


def _cascade() -> cv2.CascadeClassifier:
    if CASCADE not in _DETECTORS:
        path = Path(cv2.data.haarcascades) / CASCADE
        classifier = cv2.CascadeClassifier(str(path))
        if classifier.empty():
            raise RuntimeError(f"{path}: OpenCV's face cascade is missing (opencv-python-headless 4.x ships it)")
        _DETECTORS[CASCADE] = classifier
    return _DETECTORS[CASCADE]


def _mtcnn():
    """MTCNN with the weights of its own wheel (never a file of the working folder). Its networks are tf.keras
    models: under another Keras backend each is run by `tensorflow_network` instead, on TensorFlow as under the
    TensorFlow backend (Keras on JAX would run them op by op, compiling every op anew for each image size)."""
    if "mtcnn" not in _DETECTORS:
        from importlib.resources import files

        from .runtime import import_keras_quietly, quiet_stderr

        import_keras_quietly()
        with quiet_stderr():
            import keras
            from mtcnn import MTCNN
            from mtcnn.stages import StageONet, StagePNet, StageRNet

        weights = files("mtcnn.assets.weights")
        detector = MTCNN(stages=[stage(weights=str(weights / name)) for stage, name in
                                 ((StagePNet, "pnet.lz4"), (StageRNet, "rnet.lz4"), (StageONet, "onet.lz4"))])
        if keras.backend.backend() != "tensorflow":
            for stage in detector.stages:
                stage._model = tensorflow_network(stage._model)
        _DETECTORS["mtcnn"] = detector
    return _DETECTORS["mtcnn"]


def use_onnx_detector(networks=None) -> None:
    """From now on in this process, MTCNN finds faces with `networks` (its proposal, refinement and output networks
    as `fer_utils.onnx_reader` runs them) through `fer_utils.mtcnn_stages`, without TensorFlow; with None, with
    the `mtcnn` package on TensorFlow again. `fer_utils.classifier.load_classifier` sets it for the runtime it loads."""
    if networks is None:
        _DETECTORS.pop("onnx", None)
    else:
        _DETECTORS["onnx"] = networks


def tensorflow_network(network):
    """A function that computes MTCNN's `network` (a Keras model of Conv2D, PReLU, MaxPooling2D, Permute, Flatten
    and Dense layers: a trunk in order up to its last PReLU, then one output layer per head, each on the trunk's
    output) with TensorFlow's own ops and the network's weights, returning TensorFlow tensors as its `call`."""
    import tensorflow as tf

    layers = list(network.layers)
    heads = len(layers) - 1 - max(i for i, layer in enumerate(layers) if type(layer).__name__ == "PReLU")

    def apply(layer, x):
        kind, config, weights = type(layer).__name__, layer.get_config(), layer.get_weights()
        if kind in ("Conv2D", "Dense"):
            x = tf.nn.conv2d(x, weights[0], config["strides"], config["padding"].upper()) if kind == "Conv2D" \
                else tf.matmul(x, weights[0])
            x = x + weights[1]
            return tf.nn.softmax(x, axis=-1) if config["activation"] == "softmax" else x
        if kind == "PReLU":
            return tf.maximum(x, 0.0) + weights[0] * tf.minimum(x, 0.0)
        if kind == "MaxPooling2D":
            return tf.nn.max_pool2d(x, config["pool_size"], config["strides"], config["padding"].upper())
        if kind == "Permute":
            return tf.transpose(x, [0, *config["dims"]])
        if kind == "Flatten":
            return tf.reshape(x, [tf.shape(x)[0], -1])
        raise ValueError(f"MTCNN layer {layer.name}: {kind} is not one this runner knows")

    def call(x):
        x = tf.cast(tf.convert_to_tensor(x), tf.float32)
        for layer in layers[:-heads]:
            x = apply(layer, x)
        return [apply(layer, x) for layer in layers[-heads:]]

    return call


def _size_unchecked(path: Path) -> tuple[int, int]:
    """An image's size from its header, past Pillow's decompression bomb check (nothing is decoded)."""
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with Image.open(path) as image:
            return image.size
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]
