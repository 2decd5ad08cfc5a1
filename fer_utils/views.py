"""Test-time views of a face (the face, its mirror image, shifted copies) and a model's outputs averaged over a
view set; probabilities from outputs. Only numpy: reading a photo's faces needs nothing more."""

from __future__ import annotations

import numpy as np

from .errors import UserError

# Test-time view sets: each view is a shift (dy, dx) of the face with its edge rows and columns repeated (no
# pixel wraps around), plain or mirrored. "mirror" is the flip average; the shifts move the face by 2 px along the
# axes and by 3 px along the diagonals; "crops" moves DLSVM's 42x42 centre crop to the face's corners.
_CROSS = [(0, 0), (-2, 0), (2, 0), (0, -2), (0, 2)]
_DIAGONALS = [(-3, -3), (-3, 3), (3, -3), (3, 3)]
VIEW_SETS = {
    "plain": [(0, 0, False)],
    "mirror": [(0, 0, False), (0, 0, True)],
    "mirror x 5 shifts": [(dy, dx, m) for dy, dx in _CROSS for m in (False, True)],
    "mirror x 9 shifts": [(dy, dx, m) for dy, dx in _CROSS + _DIAGONALS for m in (False, True)],
    "mirror x 5 crops": [(dy, dx, m) for dy, dx in [(0, 0)] + _DIAGONALS for m in (False, True)],
}
EVAL_BATCH = 512  # faces per prediction call (inference only, so the batch changes no number)
CHUNK = 16 * EVAL_BATCH  # views of faces predicted per call
SMALL_BATCH = 64  # the smallest padded batch of a prediction that fits in one batch


def views_of(name: str) -> list[tuple[int, int, bool]]:
    """The views (dy, dx, mirror) of view set `name`; an error listing the sets."""
    try:
        return VIEW_SETS[name]
    except KeyError:
        raise UserError(f"unknown test views {name!r}; choose one of {', '.join(VIEW_SETS)}") from None


def shifted(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Faces (N, H, W, C) seen through a window moved by (dy, dx) pixels: out[i, j] = x[i + dy, j + dx], with
    the edge rows and columns repeated where the window leaves the face."""
    if not dy and not dx:
        return x
    pad = max(abs(dy), abs(dx))
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    return padded[:, pad + dy:pad + dy + x.shape[1], pad + dx:pad + dx + x.shape[2]]


def view(x: np.ndarray, dy: int, dx: int, mirror: bool) -> np.ndarray:
    """One test-time view of faces (N, 48, 48, 1): shifted, then mirrored left to right if `mirror`."""
    moved = shifted(x, dy, dx)
    return moved[:, :, ::-1] if mirror else moved


def predict_views(model, x: np.ndarray, views, batch_size: int = EVAL_BATCH) -> np.ndarray:
    """The model's outputs (probabilities or SVM scores) for each view of `views`: (len(views), N, classes).
    The views of a chunk of faces go through one prediction call: one batch directly (padded to a power of two of
    at least SMALL_BATCH), a longer one padded to whole batches, so that few shapes reach the model (TensorFlow
    traces, and Keras' JAX backend compiles, each new shape anew); the padding repeats views and is dropped."""
    views = list(views)
    per_chunk = max(1, CHUNK // len(views))
    outputs = []
    for start in range(0, len(x), per_chunk):
        faces = x[start:start + per_chunk]
        stacked = np.concatenate([view(faces, *v) for v in views])
        if len(stacked) <= batch_size:  # one batch: no data pipeline to set up (a photo's few faces), padded to
            size = min(batch_size, max(SMALL_BATCH, 1 << (len(stacked) - 1).bit_length()))  # a power of two
            predicted = np.asarray(model.predict_on_batch(np.resize(stacked, (size, *stacked.shape[1:]))),
                                   dtype=np.float32)  # so that few shapes are ever traced or compiled
        else:
            whole = -(-len(stacked) // batch_size) * batch_size
            padded = np.resize(stacked, (whole, *stacked.shape[1:]))
            predicted = np.asarray(model.predict(padded, batch_size=batch_size, verbose=0), dtype=np.float32)
        outputs.append(predicted[:len(stacked)].reshape(len(views), len(faces), -1))
    return np.concatenate(outputs, axis=1)


def view_outputs(model, x: np.ndarray, name: str = "mirror") -> np.ndarray:
    """The model's outputs averaged over view set `name` (default: each face and its mirror image)."""
    return predict_views(model, x, views_of(name)).mean(axis=0)


def correct_with(model, x: np.ndarray, y: np.ndarray, name: str = "plain") -> np.ndarray:
    """Which faces the model gets right with view set `name` (booleans, in the faces' order)."""
    return view_outputs(model, x, name).argmax(axis=1) == np.asarray(y)


def probabilities(outputs: np.ndarray, scores: bool = False, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities of a model's outputs: as they are (renormalised in float64), or softmax of SVM
    `scores`; with a `temperature` other than 1, each face's log-probabilities (or scores) divided by it before
    the softmax (`fer_utils.calibration`: above 1 softens overconfident probabilities)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if temperature != 1.0:
        logits = outputs if scores else np.log(np.clip(outputs, 1e-12, None))
        outputs, scores = logits / temperature, True
    if scores:
        outputs = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return outputs / outputs.sum(axis=1, keepdims=True)
