"""Faces in ordinary photos: reading any common image file (EXIF orientation, 16-bit, alpha), finding the faces
with OpenCV's bundled frontal-face Haar cascade, and cutting each out with FER2013's framing as a 48x48 grey face.

FER2013's faces are tight crops, brow to chin; the cascade's box is framed differently. `FRAMING` maps the
cascade's box to FER2013's frame; `benchmarks/face_framing.py` measured it on FER2013 faces placed into larger
images, and chose the scale that makes the CNN agree best with itself on the original faces."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .data import IMAGE_SIDE

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
DETECTION_SIDE = 1280  # photos with a longer side are downscaled to this for detection (crops use the original)
MIN_FACE = 40  # pixels of the original photo: smaller faces are not looked for
CASCADE = "haarcascade_frontalface_alt2.xml"  # of the cascades OpenCV ships, the one with no false
# finds on the astronaut at any size from 512 to 1280 px, and as many FER2013 faces found as the default one


@dataclass(frozen=True)
class Framing:
    """FER2013's frame around a detected box (x, y, w, h): a square of side `scale` * w centred `dx` * w right
    and `dy` * w below the box's centre."""

    scale: float
    dx: float = 0.0
    dy: float = 0.0

    def frame(self, box) -> tuple[float, float, float]:
        """(centre x, centre y, side) of FER2013's frame for a detected box."""
        x, y, w, h = box
        return x + w / 2 + self.dx * w, y + h / 2 + self.dy * w, self.scale * w


# Measured by benchmarks/face_framing.py on the 2,691 PublicTest faces the cascade found once: the frame's side is
# 1.049 box widths (quartiles 0.985-1.129), its centre 0.000 right and 0.008 below the box's; cut out again with
# scale 1.05, the tuned CNN agreed with itself on 83.9% of them (0.94: 81.9%; 1.15: 83.4%; 1.36: 76.4%).
FRAMING = Framing(scale=1.05, dy=0.01)


class PhotoError(ValueError):
    """A file that cannot be read as a photo; the message names the file."""


def photo_files(paths) -> tuple[list[Path], list[str]]:
    """The photo files among `paths` (files, or folders searched one level deep, sorted), and one problem line
    per path that gives none: missing, an empty folder, or a folder without photos."""
    files, problems = [], []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
            if not found:
                problems.append(f"{path}: no photos in this folder ({', '.join(PHOTO_SUFFIXES)})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(f"{path}: no such file or folder")
    return files, problems


def read_photo(path: str | os.PathLike) -> np.ndarray:
    """The photo as RGB uint8 (H, W, 3), upright as its EXIF orientation says; 16-bit and float images are
    scaled to 8 bits, transparent pixels are put on white. PhotoError names the file if it is not a readable
    image."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
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
    """RGB uint8 to grey uint8 with the ITU-R 601 weights (as Pillow's "L" mode and FER2013's faces)."""
    return cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)


def detect(grey_photo: np.ndarray, min_face: int = MIN_FACE) -> np.ndarray:
    """Face boxes (x, y, w, h) in the photo's pixels, int, (n, 4), largest first. Photos larger than
    DETECTION_SIDE are searched downscaled."""
    if min_face < 1:
        raise ValueError(f"min_face must be a positive number of pixels, got {min_face}")
    factor = min(1.0, DETECTION_SIDE / max(grey_photo.shape))
    small = grey_photo if factor == 1 else cv2.resize(grey_photo, None, fx=factor, fy=factor,
                                                     interpolation=cv2.INTER_AREA)
    side = max(1, int(round(min_face * factor)))
    found = _cascade().detectMultiScale(cv2.equalizeHist(small), scaleFactor=1.1, minNeighbors=3,
                                        minSize=(side, side))
    boxes = (np.asarray(found, dtype=np.float64).reshape(-1, 4) / factor).round().astype(int)
    return boxes[np.argsort(-boxes[:, 2], kind="stable")]


def crop(grey_photo: np.ndarray, box, framing: Framing = FRAMING) -> np.ndarray:
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


def faces_in(grey_photo: np.ndarray, min_face: int = MIN_FACE, framing: Framing = FRAMING):
    """The boxes found and their 48x48 FER2013-framed crops: ((n, 4) int, (n, 48, 48) uint8)."""
    boxes = detect(grey_photo, min_face)
    crops = np.stack([crop(grey_photo, b, framing) for b in boxes]) if len(boxes) else \
        np.zeros((0, IMAGE_SIDE, IMAGE_SIDE), np.uint8)
    return boxes, crops


def sample_photo() -> Path:
    """scikit-image's astronaut.png (Eileen Collins, NASA, public domain): a real photograph with one face."""
    import skimage

    return Path(skimage.__file__).parent / "data" / "astronaut.png"


def framing_similarity(grey_photo: np.ndarray, box, mean_face: np.ndarray, scales=(0.8, 1.0, 1.3)) -> dict:
    """How much the face cut at FRAMING's scale times each of `scales` looks like FER2013's mean face: the
    Pearson correlation of their pixels, per scale (the best framing correlates most)."""
    result = {}
    for scale in scales:
        cut = crop(grey_photo, box, Framing(FRAMING.scale * scale, FRAMING.dx, FRAMING.dy))
        result[scale] = float(np.corrcoef(cut.ravel().astype(np.float64), np.ravel(mean_face))[0, 1])
    return result


_CASCADES: dict[str, cv2.CascadeClassifier] = {}


def _cascade() -> cv2.CascadeClassifier:
    if CASCADE not in _CASCADES:
        path = Path(cv2.data.haarcascades) / CASCADE
        classifier = cv2.CascadeClassifier(str(path))
        if classifier.empty():
            raise RuntimeError(f"{path}: OpenCV's face cascade is missing (opencv-python-headless 4.x ships it)")
        _CASCADES[CASCADE] = classifier
    return _CASCADES[CASCADE]


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]
