"""The report's preprocessing: centre each pixel on its training mean, then divide by the largest
absolute centred training value, so training pixels lie in [-1, 1] with max |x| = 1."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .data import IMAGE_SIDE


class Preprocessor:
    """Per-pixel mean image and one scalar scale, fitted on training faces only."""

    def __init__(self, mean: np.ndarray | None = None, scale: float | None = None):
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32)
        self.scale = None if scale is None else np.float32(scale)

    def fit(self, train_images: np.ndarray) -> "Preprocessor":
        """Compute the mean image (48x48) and max |x - mean| over all training pixels."""
        images = _check_images(train_images)
        if len(images) == 0:
            raise ValueError("Preprocessor.fit: no training images")
        self.mean = images.mean(axis=0, dtype=np.float64).astype(np.float32)
        self.scale = np.float32(np.abs(images.astype(np.float32) - self.mean).max())
        if self.scale == 0:
            raise ValueError("Preprocessor.fit: every training image is the same, so the scale is 0")
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        """float32 (N, 48, 48, 1): (x - mean) / scale."""
        if self.mean is None:
            raise RuntimeError("Preprocessor.transform called before fit (or load)")
        centred = _check_images(images).astype(np.float32) - self.mean
        return (centred / self.scale)[..., np.newaxis]

    def fit_transform(self, train_images: np.ndarray) -> np.ndarray:
        return self.fit(train_images).transform(train_images)

    def save(self, path: str | os.PathLike) -> Path:
        """Write `mean` (float32 48x48) and `scale` (scalar) to an .npz, atomically."""
        if self.mean is None:
            raise RuntimeError("Preprocessor.save called before fit")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, mean=self.mean, scale=np.float32(self.scale))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Preprocessor":
        """Read statistics written by `save`; a missing file names the notebook that writes it."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: run notebook 01_preprocessing first")
        with np.load(path) as npz:
            mean, scale = npz["mean"], float(npz["scale"])
        if mean.shape != (IMAGE_SIDE, IMAGE_SIDE) or not scale > 0:
            raise ValueError(f"{path}: not preprocessing statistics (mean {mean.shape}, scale {scale})")
        return cls(mean, scale)


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(f"expected images of shape (N, 48, 48), got {images.shape}")
    return images


def value_summary(x: np.ndarray) -> dict[str, float]:
    """Range of preprocessed faces: min, max, max |x|, and the largest |per-pixel mean|."""
    x = np.asarray(x, dtype=np.float32)
    return {"min": float(x.min()), "max": float(x.max()), "max_abs": float(np.abs(x).max()),
            "max_abs_pixel_mean": float(np.abs(x.mean(axis=0, dtype=np.float64)).max())}


class TangPreprocessor:
    """Tang's input handling for DLSVM: each face centred on its own mean and scaled to norm `NORM`, then
    each pixel standardised with the training faces' per-pixel mean and standard deviation."""

    NORM = 100.0

    def __init__(self, mean: np.ndarray | None = None, std: np.ndarray | None = None):
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32)
        self.std = None if std is None else np.asarray(std, dtype=np.float32)

    @classmethod
    def normalise_faces(cls, images: np.ndarray) -> np.ndarray:
        """float32 (N, 48, 48): each face minus its mean, scaled to norm NORM (a blank face stays 0)."""
        x = _check_images(images).astype(np.float32)
        x = x - x.mean(axis=(1, 2), keepdims=True)
        norms = np.sqrt((x ** 2).sum(axis=(1, 2), keepdims=True))
        return x * (cls.NORM / np.where(norms > 0, norms, 1))

    def fit(self, train_images: np.ndarray) -> "TangPreprocessor":
        x = self.normalise_faces(train_images)
        if len(x) < 2:
            raise ValueError("TangPreprocessor.fit: needs at least two training images")
        self.mean, self.std = x.mean(axis=0), x.std(axis=0)
        self.std = np.where(self.std > 0, self.std, 1).astype(np.float32)
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        """float32 (N, 48, 48, 1), each pixel with mean 0 and std 1 over the training faces."""
        if self.mean is None:
            raise RuntimeError("TangPreprocessor.transform called before fit (or load)")
        return ((self.normalise_faces(images) - self.mean) / self.std)[..., np.newaxis]

    def save(self, path: str | os.PathLike) -> Path:
        """Write `mean` and `std` (float32 48x48) to an .npz, atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, mean=self.mean, std=self.std)
        os.replace(tmp, path)
        return path
