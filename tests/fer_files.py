"""Small FER2013 look-alikes in every accepted form, written by the tests themselves; and the real data set where
one is found (`real_fer2013`)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from fer_utils.labels import CLASS_NAMES

USAGES = ("Training", "PublicTest", "PrivateTest")


def make_faces(per_usage_class: int = 3, seed: int = 0):
    """Random faces: `per_usage_class` of each class in each usage; (images, labels, usage names)."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.repeat(np.arange(len(CLASS_NAMES)), per_usage_class), len(USAGES))
    usage = np.repeat(np.array(USAGES), len(CLASS_NAMES) * per_usage_class)
    images = rng.integers(0, 256, size=(len(labels), 48, 48), dtype=np.uint8)
    order = rng.permutation(len(labels))  # rows in mixed order, as in the real file
    return images[order], labels[order], usage[order]


PIXEL_TEXT = [str(v) for v in range(256)]


def pixel_text(image: np.ndarray) -> str:
    return " ".join([PIXEL_TEXT[v] for v in image.ravel().tolist()])


def write_csv(path: Path, header: list[str], rows: list[list[str]], *, bom: bool = False, crlf: bool = False,
              quote_pixels: bool = False) -> Path:
    """Write rows under `header` with the chosen byte-level quirks."""
    newline = "\r\n" if crlf else "\n"
    lines = [",".join(header)]
    for row in rows:
        lines.append(",".join(f'"{v}"' if quote_pixels and " " in v else v for v in row))
    text = newline.join(lines) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def fer2013_rows(images, labels, usage) -> list[list[str]]:
    return [[str(l), pixel_text(im), u] for im, l, u in zip(images, labels, usage)]


def write_fer2013_csv(path: Path, images, labels, usage, **quirks) -> Path:
    """The original fer2013.csv: emotion,pixels,Usage."""
    return write_csv(path, ["emotion", "pixels", "Usage"], fer2013_rows(images, labels, usage), **quirks)


def write_icml_csv(path: Path, images, labels, usage, **quirks) -> Path:
    """icml_face_data.csv: the same data with ' Usage' and ' pixels' in another order."""
    rows = [[str(l), u, pixel_text(im)] for im, l, u in zip(images, labels, usage)]
    return write_csv(path, ["emotion", " Usage", " pixels"], rows, **quirks)


def write_train_csv(path: Path, images, labels, columns=("label", "feature"), **quirks) -> Path:
    """A training-only train.csv: the 2017 course's (label,feature) or the competition's (emotion,pixels)."""
    rows = [[str(l), pixel_text(im)] for im, l in zip(images, labels)]
    return write_csv(path, list(columns), rows, **quirks)


def encode(image: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image, mode="L").save(buf, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def decoded(blob: bytes) -> np.ndarray:
    """What Pillow reads back from an encoded face (JPEG is lossy)."""
    return np.asarray(Image.open(io.BytesIO(blob)).convert("L"))


def tree_members(images, labels, usage, fmt: str = "PNG", prefixes: bool = True) -> dict[str, bytes]:
    """{'train/<class>/Training_<i>.png': bytes, ...} in the layout of the image-folder release."""
    suffix = ".jpg" if fmt == "JPEG" else ".png"
    members = {}
    for i, (im, l, u) in enumerate(zip(images, labels, usage)):
        split = "train" if u == "Training" else "test"
        name = f"{u}_{1000 + i}{suffix}" if prefixes else f"im{i}{suffix}"
        members[f"{split}/{CLASS_NAMES[l]}/{name}"] = encode(im, fmt)
    return members


def write_tree(folder: Path, members: dict[str, bytes]) -> Path:
    for name, blob in members.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
    return folder


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    return path


def real_fer2013():
    """The real FER2013 (FER2013_DATA, then data/); the calling test is skipped where there is none."""
    import pytest

    from fer_utils import data

    try:
        return data.load_fer2013(data.resolve_source(None))
    except (FileNotFoundError, data.DataError) as e:
        pytest.skip(f"no FER2013 data found ({e})")
