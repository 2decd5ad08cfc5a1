"""Decoded data cached as .npz (keyed on the source's path, sizes and times, so a changed source is decoded
again), and the SHA-256 of a source's content: a training's identity."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from .. import user_cache_dir
from ..atomic import atomic_path
from ..labels import IMAGE_SIDE, SPLITS
from .forms import ignored
from .splits import FER2013, Split

log = logging.getLogger("fer_utils.data")

CACHE_ENV = "FER2013_CACHE"
CACHE_VERSION = 1  # bump when decoding or splitting changes, so old caches are rebuilt


def sha256(source: str | os.PathLike) -> str:
    """The SHA-256 of a data file, or of an image folder's files (relative path and content, in path order)."""
    path = Path(source)
    files = sorted(p for p in path.rglob("*") if p.is_file() and not ignored(p.name)) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def cache_dir_default() -> Path:
    """Where decoded data is cached: $FER2013_CACHE, else user_cache_dir()."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return user_cache_dir()


def _signature(path: Path) -> dict:
    """What identifies a source's contents: path, size and mtime (of every file, for a folder)."""
    if path.is_file():
        st = path.stat()
        return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    listing = []
    folders = [path]
    while folders:  # os.scandir: one stat per file, no path joins in Python
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir():
                    folders.append(Path(entry.path))
                else:
                    st = entry.stat()
                    listing.append(f"{entry.path}\t{st.st_size}\t{st.st_mtime_ns}")
    listing.sort()
    digest = hashlib.sha256("\n".join(listing).encode()).hexdigest()
    return {"path": str(path.resolve()), "files": len(listing), "listing_sha256": digest}


def cache_file(path: Path, cache_dir) -> tuple[Path, dict]:
    """The cache file for this version of the source: named after its path, keyed on its signature."""
    signature = {"version": CACHE_VERSION, **_signature(path)}
    key = hashlib.sha256(json.dumps(signature, sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(cache_dir).expanduser() if cache_dir is not None else cache_dir_default()
    return folder / f"{_cache_stem(path)}-{key}.npz", signature


def _cache_stem(path: Path) -> str:
    return f"fer2013-{path.name}-{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]}"


def read_cache(cache: tuple[Path, dict], path: Path) -> FER2013 | None:
    file, signature = cache
    if not file.exists():
        return None
    try:
        start = time.perf_counter()
        with np.load(file, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            if meta["signature"] != signature:
                raise ValueError("signature differs")
            splits = {}
            for name in SPLITS:
                if f"{name}_labels" in npz:
                    images, labels = npz[f"{name}_images"], npz[f"{name}_labels"]
                    if images.dtype != np.uint8 or images.shape != (len(labels), IMAGE_SIDE, IMAGE_SIDE):
                        raise ValueError(f"{name} arrays have the wrong shape")
                    splits[name] = Split(images, labels.astype(np.int64, copy=False))
        ds = FER2013(splits["train"], splits.get("val"), splits.get("test"), source=path,
                     val_carved=bool(meta["val_carved"]))
    except Exception as e:  # any damage means: rebuild
        log.warning("ignoring unreadable cache %s (%s); decoding the source again", file, e)
        return None
    log.info("loaded %d faces of %s from cache %s in %.2f s", sum(map(len, ds.splits().values())), path, file,
             time.perf_counter() - start)
    if ds.val_carved:
        log.warning("%s has no usage information: the validation split was carved from training (cached)", path)
    return ds


def write_cache(cache: tuple[Path, dict], ds: FER2013) -> None:
    """Write the .npz atomically, so a killed run never leaves half a cache."""
    file, signature = cache
    arrays = {"meta": np.array(json.dumps({"signature": signature, "val_carved": ds.val_carved}))}
    for name, s in ds.splits().items():
        arrays[f"{name}_images"], arrays[f"{name}_labels"] = s.images, s.labels
    try:
        with atomic_path(file) as partial, open(partial, "wb") as fh:
            np.savez(fh, **arrays)
        for old in file.parent.glob(f"{_cache_stem(ds.source)}-*.npz"):
            if old != file:  # an earlier version of the same source
                old.unlink()
    except OSError as e:
        log.warning("could not write the cache %s (%s); continuing without it", file, e)
