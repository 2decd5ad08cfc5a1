"""Preprocessing fitted on training faces: the report's (centre each pixel on its training mean, divide by the
largest absolute centred value, so training pixels lie in [-1, 1]) and Tang's for DLSVM. `for_run` loads the
statistics a run saved (notebook 01 saves the report's) or fits and saves them, once per run folder."""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .labels import IMAGE_SIDE
from .errors import UserError

log = logging.getLogger(__name__)


class Statistics:
    """Per-pixel statistics fitted on training faces, saved as an .npz with a fingerprint of those faces."""

    ARRAYS: tuple[str, ...] = ()
    WRITTEN_BY = "notebook 01_preprocessing"

    def __init__(self, **arrays):
        for name in self.ARRAYS:
            value = arrays.get(name)
            value = None if value is None else np.asarray(value, dtype=np.float32)
            setattr(self, name, value[()] if value is not None and value.ndim == 0 else value)
        self.fitted_on = arrays.get("fitted_on")

    def fit(self, train_images: np.ndarray) -> "Statistics":
        images = _check_images(train_images)
        self._fit(images)
        self.fitted_on = fingerprint(images)
        return self

    def fit_transform(self, train_images: np.ndarray) -> np.ndarray:
        return self.fit(train_images).transform(train_images)

    def transform(self, images: np.ndarray) -> np.ndarray:
        if getattr(self, self.ARRAYS[0]) is None:
            raise RuntimeError(f"{type(self).__name__}.transform called before fit (or load)")
        return self._transform(_check_images(images))[..., np.newaxis]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the statistics (float32) and the fingerprint of the faces they were fitted on, atomically."""
        if getattr(self, self.ARRAYS[0]) is None:
            raise RuntimeError(f"{type(self).__name__}.save called before fit")
        arrays = {name: getattr(self, name) for name in self.ARRAYS}
        if self.fitted_on:
            arrays["fitted_on"] = np.array(self.fitted_on)
        with atomic_path(path) as partial, open(partial, "wb") as fh:
            np.savez(fh, **arrays)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Statistics":
        """Read statistics written by `save`; a missing file names what writes it."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: run {cls.WRITTEN_BY} first")
        try:
            with np.load(path) as npz:
                found = {name: npz[name] for name in npz.files}
        except (zipfile.BadZipFile, EOFError, pickle.UnpicklingError, ValueError, AttributeError) as e:  # damaged
            raise UserError(f"{path}: damaged, not readable statistics ({type(e).__name__})") from None
        missing = [name for name in cls.ARRAYS if name not in found]
        if missing:
            raise UserError(f"{path}: not {cls.__name__} statistics (no {', '.join(missing)})")
        arrays = {name: found[name] for name in cls.ARRAYS}
        fitted_on = str(found["fitted_on"]) if "fitted_on" in found else None
        stats = cls(**arrays, fitted_on=fitted_on)
        stats._check(path)
        return stats

    def _check(self, path: Path) -> None:
        if getattr(self, self.ARRAYS[0]).shape != (IMAGE_SIDE, IMAGE_SIDE):
            raise UserError(f"{path}: not {type(self).__name__} statistics (shape "
                             f"{getattr(self, self.ARRAYS[0]).shape})")


class Preprocessor(Statistics):
    """The report's: per-pixel mean image and one scalar scale, fitted on training faces only."""

    ARRAYS = ("mean", "scale")

    def _fit(self, images: np.ndarray) -> None:
        """The mean image (48x48) and max |x - mean| over all training pixels."""
        if len(images) == 0:
            raise UserError("Preprocessor.fit: no training images")
        self.mean = images.mean(axis=0, dtype=np.float64).astype(np.float32)
        self.scale = np.float32(np.abs(images.astype(np.float32) - self.mean).max())
        if self.scale == 0:
            raise UserError("Preprocessor.fit: every training image is the same, so the scale is 0")

    def _transform(self, images: np.ndarray) -> np.ndarray:
        """(x - mean) / scale."""
        return (images.astype(np.float32) - self.mean) / self.scale

    def _check(self, path: Path) -> None:
        super()._check(path)
        if not float(self.scale) > 0:
            raise UserError(f"{path}: not preprocessing statistics (scale {float(self.scale)})")


class TangPreprocessor(Statistics):
    """Tang's input handling for DLSVM: each face centred on its own mean and scaled to norm `NORM`, then
    each pixel standardised with the training faces' per-pixel mean and standard deviation."""

    ARRAYS = ("mean", "std")
    NORM = 100.0
    WRITTEN_BY = "the DLSVM training (notebook 08)"

    @classmethod
    def normalise_faces(cls, images: np.ndarray) -> np.ndarray:
        """float32 (N, 48, 48): each face minus its mean, scaled to norm NORM (a blank face stays 0)."""
        x = _check_images(images).astype(np.float32)
        x = x - x.mean(axis=(1, 2), keepdims=True)
        norms = np.sqrt((x ** 2).sum(axis=(1, 2), keepdims=True))
        return x * (cls.NORM / np.where(norms > 0, norms, 1))

    def _fit(self, images: np.ndarray) -> None:
        x = self.normalise_faces(images)
        if len(x) < 2:
            raise UserError("TangPreprocessor.fit: needs at least two training images")
        self.mean, std = x.mean(axis=0), x.std(axis=0)
        self.std = np.where(std > 0, std, 1).astype(np.float32)

    def _transform(self, images: np.ndarray) -> np.ndarray:
        """Each pixel with mean 0 and std 1 over the training faces."""
        return (self.normalise_faces(images) - self.mean) / self.std


KINDS = {"report": Preprocessor, "tang": TangPreprocessor}  # a model's preprocessing, by the registry's name


def for_run(kind: str, train_images: np.ndarray, path: str | os.PathLike) -> Statistics:
    """The `kind` statistics of a run: those saved at `path` (notebook 01 saves the report's) when they were
    fitted on these training faces, else fitted now and saved there for the later notebooks."""
    cls, path = KINDS[kind], Path(path)
    if path.exists():
        saved = cls.load(path)
        if saved.fitted_on == fingerprint(_check_images(train_images)):
            return saved
        log.warning("%s was fitted on other training faces; fitting it again on this run's", path.name)
    stats = cls().fit(train_images)
    stats.save(path)
    return stats


def same_statistics(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two saved statistics files hold the same arrays (whatever faces' fingerprint they record)."""
    with np.load(a) as x, np.load(b) as y:
        keys = set(x.files) - {"fitted_on"}
        return keys == set(y.files) - {"fitted_on"} and all(np.array_equal(x[k], y[k]) for k in keys)


def fingerprint(images: np.ndarray) -> str:
    """A short hash of the training faces, so saved statistics are only reused for the faces they came from."""
    images = np.ascontiguousarray(images)
    return hashlib.sha256(str(images.shape).encode() + images.tobytes()).hexdigest()[:16]


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise UserError(f"expected images of shape (N, 48, 48), got {images.shape}")
    return images


def value_summary(x: np.ndarray) -> dict[str, float]:
    """Range of preprocessed faces: min, max, max |x|, and the largest |per-pixel mean|."""
    x = np.asarray(x, dtype=np.float32)
    return {"min": float(x.min()), "max": float(x.max()), "max_abs": float(np.abs(x).max()),
            "max_abs_pixel_mean": float(np.abs(x.mean(axis=0, dtype=np.float64)).max())}


def prepared(fer, kind: str, run_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """The splits of `fer` (a `fer_utils.data.FER2013`) preprocessed with the run's `kind` statistics (saved by
    notebook 01 for the report's, or fitted and saved now): split -> float32 (N, 48, 48, 1)."""
    from .paths import RunPaths

    stats = for_run(kind, fer.train.images, RunPaths(Path(run_dir).expanduser().resolve()).statistics(kind))
    return {split: stats.transform(s.images) for split, s in fer.splits().items()}
