"""Read FER2013 in the forms users have (`forms`) into one shape, its three splits (`splits`), cached as .npz
(`cache`); the images that are no faces (`non_faces`). Every form gives uint8 faces (N, 48, 48) and int64 labels
split into train/val/test."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from ..labels import CLASS_NAMES, IMAGE_SIDE, N_PIXELS, SPLITS  # noqa: F401
from . import forms
from .cache import CACHE_ENV, cache_dir_default, cache_file, read_cache, sha256, write_cache  # noqa: F401
from .forms import ACCEPTED_FORMS, USAGE_TO_SPLIT, DataError, find_in_folder, ignored  # noqa: F401
from .non_faces import is_face, non_faces  # noqa: F401
from .splits import FER2013, Split, assemble, class_counts, limit, subsample  # noqa: F401

log = logging.getLogger(__name__)

DATA_ENV = "FER2013_DATA"
PROJECT_DATA_DIR = Path(__file__).resolve().parents[2] / "data"


def load_fer2013(source: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None,
                 use_cache: bool = True) -> FER2013:
    """Load FER2013 from `source` (file or folder; None: $FER2013_DATA, then data/), using the .npz cache."""
    path = resolve_source(source)
    cache = cache_file(path, cache_dir) if use_cache else None
    if cache is not None:
        cached = read_cache(cache, path)
        if cached is not None:
            return cached
    start = time.perf_counter()
    images, labels, usage = forms.read_source(path)
    ds = assemble(images, labels, usage, path)
    log.info("decoded %d faces from %s in %.1f s", len(labels), path, time.perf_counter() - start)
    if cache is not None:
        write_cache(cache, ds)
    return ds


def resolve_source(source: str | os.PathLike | None = None) -> Path:
    """The file or image folder to read: `source`, else $FER2013_DATA, else a known form inside data/."""
    if source is None:
        env = os.environ.get(DATA_ENV)
        if env:
            source, origin = env, f"${DATA_ENV}"
        else:
            source, origin = PROJECT_DATA_DIR, "the project's data/ folder"
            if not PROJECT_DATA_DIR.is_dir() or find_in_folder(PROJECT_DATA_DIR) is None:
                raise FileNotFoundError(f"no FER2013 data in {PROJECT_DATA_DIR}: put one of these there, or set "
                                        f"${DATA_ENV} to it: {ACCEPTED_FORMS}")
    else:
        origin = "the given source"
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path} ({origin}) does not exist; accepted forms: {ACCEPTED_FORMS}; "
                                f"or set ${DATA_ENV} to one of them")
    if path.is_dir():
        found = find_in_folder(path)
        if found is None:
            if not any(p for p in path.iterdir() if not ignored(p.name)):
                raise DataError(f"{path}: empty folder; accepted forms: {ACCEPTED_FORMS}")
            raise DataError(f"{path}: no FER2013 form found in this folder; accepted forms: {ACCEPTED_FORMS}")
        return found
    return path
