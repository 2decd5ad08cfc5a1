"""The forms FER2013 comes in, read into one shape: Kaggle's CSV files (fer2013.csv, icml_face_data.csv, a
training-only train.csv, plain or compressed), the image release as a folder or a zip, and fer2013.tar.gz. Each
gives uint8 faces (N, 48, 48), int64 labels and, where the form has it, each face's usage (its split)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import simplejpeg
from PIL import Image

from ..errors import UserError
from ..labels import CLASS_NAMES, IMAGE_SIDE, N_PIXELS

log = logging.getLogger("fer_utils.data")

USAGE_TO_SPLIT = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
KNOWN_FILES = ("fer2013.csv", "icml_face_data.csv", "fer2013.zip", "fer2013.tar.gz", "train.csv")
KNOWN_CSVS = ("fer2013.csv", "icml_face_data.csv", "train.csv")
ACCEPTED_FORMS = (
    "fer2013.csv (emotion,pixels,Usage); icml_face_data.csv; train.csv (label,feature or emotion,pixels); "
    "an image folder train/<class>/*.jpg + test/<class>/*.jpg or its .zip (e.g. archive.zip); fer2013.tar.gz"
)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".pgm")
IGNORED_NAMES = ("__MACOSX", "Thumbs.db", "desktop.ini")
BAD_PIXEL_TOKEN = r"[^0-9 ]|(^| )(25[6-9]|2[6-9][0-9]|[3-9][0-9][0-9]|[0-9]{4,})( |$)"  # not 0..255
USAGE_PREFIX = re.compile(r"^(Training|PublicTest|PrivateTest)_")
CSV_COLUMNS = {"emotion": "label", "label": "label", "pixels": "pixels", "feature": "pixels", "usage": "usage"}


class DataError(UserError):
    """A FER2013 source that cannot be read; the message names the file and the row or member."""


def ignored(name: str) -> bool:
    return name.startswith(".") or name in IGNORED_NAMES


def find_in_folder(folder: Path, depth: int = 1) -> Path | None:
    """The folder itself when it is an image tree, else a known file in it (or the only zip), else the same
    search one folder down (an extracted archive: fer2013/fer2013.csv, archive/train/...)."""
    entries = sorted(p for p in folder.iterdir() if not ignored(p.name))
    if any(p.is_dir() and p.name.lower() in ("train", "test") for p in entries):
        return folder
    files = {p.name.lower(): p for p in entries if p.is_file()}
    known = next((files[name] for name in KNOWN_FILES if name in files), None)
    zips = [p for name, p in files.items() if name.endswith(".zip")]
    if known or len(zips) == 1:
        return known or zips[0]
    for sub in (p for p in entries if p.is_dir() and depth > 0):
        found = find_in_folder(sub, depth - 1)
        if found is not None:
            return found
    return None


def read_source(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Decode any form into (images, labels, usage split names or None)."""
    if path.is_dir():
        return _read_image_tree(_FolderTree(path))
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file")
    name = path.name.lower()
    if name.endswith(".zip"):
        if not zipfile.is_zipfile(path):
            raise DataError(f"{path}: not a zip file (damaged or truncated?)")
        return _read_zip(path)
    if name.endswith((".tar", ".tar.gz", ".tgz")):
        return _read_tar(path)
    if name.endswith((".csv", ".csv.gz", ".csv.bz2")):
        return _read_csv(str(path), str(path))  # Arrow decompresses by the file name's suffix
    raise DataError(f"{path}: unknown file type; accepted forms: {ACCEPTED_FORMS}")


def _read_zip(path: Path):
    try:
        with zipfile.ZipFile(path) as zf:
            names = [i.filename for i in zf.infolist() if not i.is_dir()]
            if not names:
                raise DataError(f"{path}: empty zip")
            if any(_is_image(n) for n in names):
                return _read_image_tree(_ZipTree(path, zf, names))
            member = _pick_csv(names)
            if member is None:
                raise DataError(f"{path}: the zip holds neither train/<class>/ images nor one of {KNOWN_CSVS}")
            with zf.open(member) as fh:
                return _read_csv(fh, f"{path}: member {member}")
    except (zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{path}: damaged or truncated zip ({e})") from None


def _read_tar(path: Path):
    try:
        with tarfile.open(path) as tf:
            members = {m.name: m for m in tf.getmembers() if m.isfile()}
            member = _pick_csv(list(members))
            if member is None:
                raise DataError(f"{path}: the archive holds none of {KNOWN_CSVS}")
            return _read_csv(io.BytesIO(tf.extractfile(members[member]).read()), f"{path}: member {member}")
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(f"{path}: damaged or truncated archive ({e})") from None


def _pick_csv(names: list[str]) -> str | None:
    by_name = {PurePosixPath(n).name.lower(): n for n in names if not _ignored_path(n)}
    return next((by_name[k] for k in KNOWN_CSVS if k in by_name), None)


def _ignored_path(name: str) -> bool:
    return any(ignored(part) for part in name.split("/"))


# --------------------------------------------------------------------------- CSV forms


def _read_csv(source, where: str):
    """Read a FER2013 CSV (path or binary file object); `where` names it in errors."""
    bad_rows = []

    def on_invalid(row):
        bad_rows.append(row)
        return "skip"

    try:
        table = pcsv.read_csv(source, parse_options=pcsv.ParseOptions(invalid_row_handler=on_invalid),
                              read_options=pcsv.ReadOptions(use_threads=True, block_size=1 << 24))
    except (pa.ArrowInvalid, OSError) as e:  # OSError: a damaged compressed file
        message = (str(e).splitlines() or [type(e).__name__])[0]
        if "Empty CSV file" in message:
            raise DataError(f"{where}: empty file") from None
        raise DataError(f"{where}: not a readable CSV ({message[:120]})") from None
    if bad_rows:
        first = bad_rows[0]
        line = first.number if first.number is not None else _first_bad_line(source)
        raise DataError(f"{where}: line {line}: {first.actual_columns} fields where the header has "
                        f"{first.expected_columns} (truncated or damaged file?)")
    columns = _csv_columns(table.column_names, where)
    if table.num_rows == 0:
        raise DataError(f"{where}: no data rows after the header")
    labels = _parse_labels(table.column(columns["label"]), where)
    usage = _parse_usage(table.column(columns["usage"]), where) if "usage" in columns else None
    images = _parse_pixels(table.column(columns["pixels"]), where)
    return images, labels, usage


def _first_bad_line(source) -> int | str:
    """The line of the first row with the wrong field count; a single-threaded re-read numbers rows."""
    rows = []
    if hasattr(source, "seek"):
        source.seek(0)
    pcsv.read_csv(source, read_options=pcsv.ReadOptions(use_threads=False),
                  parse_options=pcsv.ParseOptions(invalid_row_handler=lambda r: rows.append(r) or "skip"))
    return rows[0].number if rows and rows[0].number is not None else "?"


def _csv_columns(names: list[str], where: str) -> dict[str, str]:
    """Map the header's names (any case, stray spaces) to label/pixels/usage; refuse unknown ones."""
    found: dict[str, str] = {}
    for name in names:
        role = CSV_COLUMNS.get(name.strip().lower())
        if role is None:
            shown = name if len(name) <= 30 else name[:27] + "..."
            hint = "; is the header line missing?" if name.strip()[:1].isdigit() else ""
            raise DataError(f"{where}: unknown column {shown!r} in the header (expected emotion or label, "
                            f"pixels or feature, and optionally Usage){hint}")
        if role in found:
            raise DataError(f"{where}: two {role} columns ({found[role]!r} and {name!r})")
        found[role] = name
    for role, wanted in (("label", "emotion (or label)"), ("pixels", "pixels (or feature)")):
        if role not in found:
            raise DataError(f"{where}: missing column {wanted}; the header has {', '.join(names)[:80]}")
    return found


def _row(row: int, n_rows: int, cut_short: bool = False) -> str:
    """How a message names a data row: 1-based, with its line in the file (the header is line 1);
    `cut_short` rows that are the file's last one hint at a truncated file."""
    last = ", the last one: truncated file?" if cut_short and row == n_rows - 1 and n_rows > 1 else ""
    return f"row {row + 1} (line {row + 2}{last})"


def _as_text(column: pa.ChunkedArray) -> np.ndarray:
    text = pc.utf8_trim_whitespace(column.cast(pa.string()))
    return np.asarray(text.fill_null("").to_numpy(zero_copy_only=False), dtype=str)


def _parse_labels(column: pa.ChunkedArray, where: str) -> np.ndarray:
    text = _as_text(column)
    valid = np.isin(text, [str(i) for i in range(len(CLASS_NAMES))])
    if not valid.all():
        row = int(np.flatnonzero(~valid)[0])
        raise DataError(f"{where}: {_row(row, len(text))}: label {str(text[row])!r} is not an integer in 0..6")
    return text.astype(np.int64)


def _parse_usage(column: pa.ChunkedArray, where: str) -> np.ndarray:
    text = _as_text(column)
    valid = np.isin(text, list(USAGE_TO_SPLIT))
    if not valid.all():
        row = int(np.flatnonzero(~valid)[0])
        raise DataError(f"{where}: {_row(row, len(text), cut_short=True)}: unknown Usage {str(text[row])!r} "
                        f"(expected one of {', '.join(USAGE_TO_SPLIT)})")
    return np.vectorize(USAGE_TO_SPLIT.get, otypes=[object])(text).astype(str)


def _parse_pixels(column: pa.ChunkedArray, where: str) -> np.ndarray:
    """Space-separated pixel lists to uint8 (N, 48, 48) in one C pass (np.loadtxt over the rows joined by
    newlines). Other whitespace is normalised and tried again; failing that, the first bad row is explained."""
    column = column.cast(pa.string()).fill_null("")
    pixels = _load_pixel_rows(column)
    if pixels is None:
        column = pc.replace_substring_regex(pc.utf8_trim_whitespace(column), r"\s+", " ")
        pixels = _load_pixel_rows(column)
    if pixels is None:
        _raise_first_bad_row(column, where)
    return pixels.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)


def _load_pixel_rows(column: pa.ChunkedArray) -> np.ndarray | None:
    """(N, 2304) uint8 when every row is exactly 2304 single-space-separated values in 0..255, else None."""
    rows = []
    for chunk in column.chunks:
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[chunk.offset:chunk.offset + len(chunk) + 1]
        data = memoryview(chunk.buffers()[2])
        rows += [data[start:end] for start, end in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    try:
        pixels = np.loadtxt(io.BytesIO(b"\n".join(rows)), dtype=np.uint8, delimiter=" ", comments=None, ndmin=2)
    except ValueError:
        return None
    return pixels if pixels.shape == (len(rows), N_PIXELS) else None


def _raise_first_bad_row(column: pa.ChunkedArray, where: str) -> None:
    """Find the first bad row with vectorised checks, then say what is wrong with it."""
    tokens = pc.add(pc.count_substring(column, " "), 1)
    bad = pc.or_(pc.not_equal(tokens, N_PIXELS), pc.match_substring_regex(column, BAD_PIXEL_TOKEN))
    flagged = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
    row = int(flagged[0]) if len(flagged) else None
    problem = _pixel_problem(column[row].as_py()) if row is not None else None
    at = _row(row, len(column), cut_short="pixel values" in (problem or "")) if row is not None else "the pixel column"
    raise DataError(f"{where}: {at}: {problem or f'cannot be read as {N_PIXELS} integers in 0..255'}")


def _pixel_problem(value: str) -> str | None:
    """What is wrong with one row's pixel list, or None."""
    tokens = value.split()
    if len(tokens) != N_PIXELS:
        return f"{len(tokens)} pixel values, expected {N_PIXELS}"
    for k, token in enumerate(tokens):
        if not re.fullmatch(r"[+-]?\d+", token):
            return f"pixel {k + 1} is {token[:20]!r}, not an integer"
        if not 0 <= int(token) <= 255:
            return f"pixel {k + 1} is {int(token)}, outside 0..255"
    return None


# --------------------------------------------------------------------------- image-folder forms


class _FolderTree:
    """An image tree on disk: relative posix names and a reader of each file's bytes."""

    def __init__(self, root: Path):
        self.root, self.where = root, str(root)
        self.names = []
        for dirpath, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not ignored(d)]
            rel = Path(dirpath).relative_to(root).as_posix()
            self.names += [f if rel == "." else f"{rel}/{f}" for f in files if not ignored(f)]
        self.names.sort()

    @contextlib.contextmanager
    def reader(self):
        yield lambda name: (self.root / name).read_bytes()


class _ZipTree:
    """An image tree inside an open zip, read without extracting."""

    def __init__(self, path: Path, zf: zipfile.ZipFile, names: list[str]):
        self.where, self.zf = str(path), zf
        self.names = sorted(n for n in names if not _ignored_path(n))

    @contextlib.contextmanager
    def reader(self):
        yield self.zf.read


def _read_image_tree(tree) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Decode <split>/<class>/<file> images; usage from Training_/PublicTest_/PrivateTest_ name prefixes."""
    entries = _tree_entries(tree)
    if not entries:
        raise DataError(f"{tree.where}: no images under train/<class>/ or test/<class>/")
    names = [e[0] for e in entries]
    images = np.empty((len(names), IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8)
    with tree.reader() as read:
        for i, name in enumerate(names):
            images[i] = _decode_image(_read_member(read, name, tree.where), f"{tree.where}: member {name}")
    labels = np.array([e[2] for e in entries], dtype=np.int64)
    usages = [e[3] for e in entries]
    if all(u is None for u in usages):
        in_test = sum(e[1] == "test" for e in entries)
        keep = np.array([e[1] == "train" for e in entries])
        if not keep.any():
            raise DataError(f"{tree.where}: no usage prefixes in the file names and no train/ folder")
        if in_test:
            log.warning("%s: file names carry no Training_/PublicTest_/PrivateTest_ prefix, so the %d faces in "
                        "test/ cannot be split into val and test and are not used", tree.where, in_test)
        return images[keep], labels[keep], None
    return images, labels, np.array(usages, dtype=str)


def _tree_entries(tree) -> list[tuple[str, str, int, str | None]]:
    """(name, split folder, label, usage split or None) per image; errors for a layout that is not FER2013's."""
    images = [n for n in tree.names if _is_image(n)]
    if not images:
        return []
    depth = images[0].count("/") - 2  # folders above <split>/<class>/<image>
    prefix = images[0].split("/")[:depth] if depth >= 0 else None
    entries, with_usage = [], 0
    for name in tree.names:
        parts = name.split("/")
        image = _is_image(name)
        if prefix is None or parts[:depth] != prefix or len(parts) <= depth or \
                parts[depth].lower() not in ("train", "test"):
            if image and prefix is not None and len(parts) == depth + 3 and parts[:depth] == prefix:
                raise DataError(f"{tree.where}: member {name}: unknown split folder {parts[depth]!r} "
                                "(expected train or test)")
            if image:
                raise DataError(f"{tree.where}: member {name}: image outside the <split>/<class>/<image> layout")
            continue  # a README or similar beside the tree
        if len(parts) != depth + 3:
            raise DataError(f"{tree.where}: member {name}: expected <split>/<class>/<image>")
        split, cls, file = parts[depth:]
        if not image:
            raise DataError(f"{tree.where}: member {name}: not an image file")
        label = _class_index(cls)
        if label is None:
            raise DataError(f"{tree.where}: member {name}: unknown class folder {cls!r} "
                            f"(expected one of {', '.join(CLASS_NAMES)} or 0..6)")
        match = USAGE_PREFIX.match(file)
        usage = USAGE_TO_SPLIT[match.group(1)] if match else None
        if usage is not None:
            with_usage += 1
            if (split.lower() == "train") != (usage == "train"):
                raise DataError(f"{tree.where}: member {name}: a {match.group(1)} face inside {split}/")
        entries.append((name, split.lower(), label, usage))
    if 0 < with_usage < len(entries):
        first = next(e[0] for e in entries if e[3] is None)
        raise DataError(f"{tree.where}: member {first}: no Training_/PublicTest_/PrivateTest_ prefix, "
                        "while other file names have one")
    return entries


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def _class_index(folder: str) -> int | None:
    key = folder.lower()
    if key in CLASS_NAMES:
        return CLASS_NAMES.index(key)
    if key.isdigit() and int(key) < len(CLASS_NAMES):
        return int(key)
    return None


def _read_member(read, name: str, where: str) -> bytes:
    try:
        return read(name)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise DataError(f"{where}: member {name}: cannot be read ({e})") from None


def _decode_image(blob: bytes, where: str) -> np.ndarray:
    """One 48x48 face as uint8: grey JPEGs through libjpeg-turbo (simplejpeg, 3x faster than Pillow and
    pixel-identical to it), any other image through Pillow."""
    if not blob:
        raise DataError(f"{where}: empty image file")
    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(blob)
    except ValueError:
        colorspace = None  # not a JPEG, or a damaged one: Pillow decides and explains
    try:
        if colorspace == "Gray":
            if (width, height) != (IMAGE_SIDE, IMAGE_SIDE):
                raise DataError(f"{where}: image is {width}x{height}, expected 48x48")
            return simplejpeg.decode_jpeg(blob, colorspace="GRAY", strict=True)[:, :, 0]
        with Image.open(io.BytesIO(blob)) as im:
            im.load()
            if im.size != (IMAGE_SIDE, IMAGE_SIDE):
                raise DataError(f"{where}: image is {im.size[0]}x{im.size[1]}, expected 48x48")
            return np.asarray(im.convert("L"))
    except DataError:
        raise
    except Exception as e:  # the decoders raise several types for damaged files
        raise DataError(f"{where}: cannot decode image ({e})") from None
