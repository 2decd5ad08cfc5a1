"""What a trained network looks at: saliency, SmoothGrad, Grad-CAM, layer outputs, images found by gradient
ascent on one filter, and where saliency falls on the face. Every gradient goes through `value_and_grad`, one
small branch per Keras backend."""

from __future__ import annotations

import numpy as np

from .errors import UserError
from .models import keras


def value_and_grad(fn, x: np.ndarray) -> tuple[float, np.ndarray]:
    """fn(x) (a scalar built with keras.ops) and its gradient with respect to x, on the active backend."""
    backend = keras.backend.backend()
    x = np.asarray(x, dtype="float32")
    if backend == "tensorflow":
        import tensorflow as tf

        t = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(t)
            y = fn(t)
        return float(y), tape.gradient(y, t).numpy()
    if backend == "jax":
        import jax

        y, g = jax.value_and_grad(fn)(jax.numpy.asarray(x))
        return float(y), np.asarray(g)
    if backend == "torch":
        import torch

        t = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)  # on the backend's device
        y = fn(t)
        y.backward()
        return float(y.detach().cpu()), t.grad.detach().cpu().numpy()
    raise NotImplementedError(f"no gradient function for the Keras backend {backend!r}")


def logit_function(model: keras.Model):
    """x -> class scores before the softmax of the model's last Dense layer (augmentation off)."""
    features, last = keras.Model(model.input, model.layers[-1].input), model.layers[-1]
    return lambda x: keras.ops.matmul(features(x, training=False), last.kernel) + last.bias


def predicted_classes(model: keras.Model, images: np.ndarray) -> np.ndarray:
    return model.predict(images, verbose=0).argmax(axis=1)


def saliency_map(model: keras.Model, images: np.ndarray, class_index=None) -> np.ndarray:
    """|d score / d input| per pixel, (N, 48, 48), for the predicted class (or `class_index`, one int or one per
    face), the score taken before the softmax."""
    classes = _classes(model, images, class_index)
    one_hot = keras.ops.convert_to_tensor(np.eye(model.output_shape[-1], dtype="float32")[classes])
    scores = logit_function(model)
    _, grad = value_and_grad(lambda x: keras.ops.sum(scores(x) * one_hot), images)
    return np.abs(grad).max(axis=-1)


def smooth_grad(model: keras.Model, images: np.ndarray, class_index=None, samples: int = 20, noise: float = 0.1,
                seed: int = 0) -> np.ndarray:
    """Saliency averaged over `samples` noisy copies (Gaussian, std = noise x the images' value range)."""
    classes = _classes(model, images, class_index)
    rng = np.random.default_rng(seed)
    sigma = noise * float(np.ptp(images))
    maps = [saliency_map(model, images + rng.normal(0, sigma, images.shape).astype("float32"), classes)
            for _ in range(samples)]
    return np.mean(maps, axis=0)


def grad_cam(model: keras.Model, images: np.ndarray, layer_name: str, class_index=None) -> np.ndarray:
    """Grad-CAM at `layer_name`: its maps weighted by the mean gradient of the class score (before the softmax),
    ReLU, resized to the input's size and scaled to [0, 1] per face; (N, 48, 48). The network is cut at the layer
    into two functional sub-models of its own graph, so branches and merges after the layer are kept."""
    classes = _classes(model, images, class_index)
    layer, last = model.get_layer(layer_name), model.layers[-1]
    activations = keras.Model(model.input, layer.output).predict(images, verbose=0)
    head = keras.Model(layer.output, last.input)  # the layer's maps -> the features before the last Dense
    one_hot = keras.ops.convert_to_tensor(np.eye(model.output_shape[-1], dtype="float32")[classes])

    def score(a):
        return keras.ops.sum((keras.ops.matmul(head(a, training=False), last.kernel) + last.bias) * one_hot)

    _, grads = value_and_grad(score, activations)
    weights = grads.mean(axis=(1, 2), keepdims=True)
    cam = np.maximum((weights * activations).sum(axis=-1), 0)
    side = model.input_shape[1]
    cam = np.asarray(keras.ops.image.resize(cam[..., None], (side, side)))[..., 0]
    top = cam.reshape(len(cam), -1).max(axis=1).reshape(-1, 1, 1)
    return np.where(top > 0, cam / np.where(top > 0, top, 1), 0)


def layer_outputs(model: keras.Model, images: np.ndarray, layer_name: str) -> np.ndarray:
    """The activations of `layer_name` for `images` (inference mode), e.g. (N, 48, 48, filters)."""
    return keras.Model(model.input, model.get_layer(layer_name).output).predict(images, verbose=0)


def maximize_filter(model: keras.Model, layer_name: str, filter_index: int, steps: int = 100,
                    step_size: float = 0.05, seed: int = 0) -> tuple[np.ndarray, float, float]:
    """Gradient ascent from small noise on the mean activation of one filter, with normalised gradients.
    Returns the image (48, 48), the activation at the start and the activation reached."""
    images, start, reached = maximize_filters(model, layer_name, [filter_index], steps, step_size, seed)
    return images[0], float(start[0]), float(reached[0])


def maximize_filters(model: keras.Model, layer_name: str, filter_indices, steps: int = 100,
                     step_size: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`maximize_filter` for many filters at once: image i ascends filter_indices[i] (the images do not
    interact in inference mode, so one batched gradient serves all). Returns images (N, 48, 48), and the
    activations at the start and reached (N,)."""
    filters = np.asarray(filter_indices, dtype=int)
    feature = keras.Model(model.input, model.get_layer(layer_name).output)
    x = np.random.default_rng(seed).normal(0, 0.05, (len(filters), *model.input_shape[1:])).astype("float32")
    select = keras.ops.convert_to_tensor(np.eye(feature.output_shape[-1], dtype="float32")[filters])

    def per_image(z):  # the mean activation of image i's own filter, (N,)
        out = feature(z, training=False)
        return keras.ops.sum(keras.ops.mean(out, axis=(1, 2)) * select, axis=-1)

    start = np.asarray(per_image(x))
    for _ in range(steps):
        _, grad = value_and_grad(lambda z: keras.ops.sum(per_image(z)), x)
        norm = np.sqrt(np.mean(grad ** 2, axis=(1, 2, 3), keepdims=True)) + 1e-8
        x = np.clip(x + step_size * grad / norm, -1, 1).astype("float32")
    return x[..., 0], start, np.asarray(per_image(x))


def filter_correlations(outputs: np.ndarray) -> np.ndarray:
    """Pearson correlation between the filters of one layer's outputs (N, H, W, F), over every face and
    position: (F, F). A filter that never varies correlates 0 with every other."""
    flat = outputs.reshape(-1, outputs.shape[-1]).astype("float64")
    centred = flat - flat.mean(axis=0)
    norms = np.sqrt((centred ** 2).sum(axis=0))
    safe = np.where(norms > 0, norms, 1)
    corr = (centred.T @ centred) / np.outer(safe, safe)
    corr[norms == 0, :] = corr[:, norms == 0] = 0
    np.fill_diagonal(corr, 1)
    return corr


def extreme_pairs(corr: np.ndarray) -> dict:
    """The most similar (highest correlation) and most complementary (lowest) pair of distinct filters."""
    upper = np.triu_indices(len(corr), k=1)
    values = corr[upper]
    hi, lo = values.argmax(), values.argmin()
    return {"similar": (int(upper[0][hi]), int(upper[1][hi])), "similar_r": float(values[hi]),
            "complementary": (int(upper[0][lo]), int(upper[1][lo])), "complementary_r": float(values[lo])}


def pairs_beyond(corr: np.ndarray, thresholds) -> dict[str, int]:
    """How many pairs of distinct filters correlate at or above each positive threshold, or at or below each
    negative one: {"0.90": count, "-0.50": count, ...}."""
    values = corr[np.triu_indices(len(corr), k=1)]
    return {f"{t:.2f}": int(np.sum(values >= t) if t > 0 else np.sum(values <= t)) for t in thresholds}


def top_activating(outputs: np.ndarray, k: int) -> np.ndarray:
    """For each filter, the indices of the k faces with the highest mean activation: (F, k), best first."""
    means = outputs.mean(axis=(1, 2))
    return np.argsort(-means, axis=0, kind="stable")[:k].T


# Fixed regions of the aligned 48x48 FER2013 face, (rows, columns), read off the mean training face.
FACE_REGIONS = {"brows": (slice(9, 15), slice(6, 42)), "eyes": (slice(15, 22), slice(6, 42)),
                "mouth": (slice(33, 44), slice(12, 36))}


def region_shares(maps: np.ndarray, regions: dict = FACE_REGIONS):
    """Share of each map's total saliency (N, 48, 48) inside each region, with the region's share of the
    area for comparison: a DataFrame, one row per map and a last row `area`."""
    import pandas as pd

    maps = np.asarray(maps, dtype="float64")
    totals = maps.sum(axis=(1, 2))
    totals = np.where(totals > 0, totals, 1)
    shares = {name: maps[:, r, c].sum(axis=(1, 2)) / totals for name, (r, c) in regions.items()}
    area = {name: maps[0, r, c].size / maps[0].size for name, (r, c) in regions.items()}
    frame = pd.DataFrame(shares)
    frame.loc["area"] = area
    return frame


def keep_salient(images: np.ndarray, maps: np.ndarray, removed_share: float) -> np.ndarray:
    """The faces with their least salient pixels set to NaN: `removed_share` (0..1) of each face's pixels."""
    if not 0 <= removed_share < 1:
        raise UserError(f"the share of pixels removed must be in [0, 1), got {removed_share}")
    flat = maps.reshape(len(maps), -1)
    cut = np.quantile(flat, removed_share, axis=1).reshape(-1, 1, 1)
    return np.where(maps >= cut, images.reshape(maps.shape).astype("float32"), np.nan)


def class_average_saliency(model: keras.Model, images: np.ndarray, labels: np.ndarray, per_class: int,
                           seed: int = 0) -> np.ndarray:
    """Per emotion, the mean saliency map (each map scaled to sum 1) of its own score over up to
    `per_class` faces of that emotion: (classes, 48, 48); NaN for a class without faces. Every class's batch is
    padded to the same size with repeats of its faces (dropped again): one input shape for all classes, which
    Keras' JAX backend would otherwise compile anew per class."""
    rng = np.random.default_rng(seed)
    out = np.full((model.output_shape[-1], *images.shape[1:3]), np.nan)
    for c in range(len(out)):
        members = np.flatnonzero(labels == c)
        if len(members):
            chosen = rng.choice(members, size=min(per_class, len(members)), replace=False)
            maps = saliency_map(model, images[np.resize(chosen, per_class)], c)[:len(chosen)]
            out[c] = (maps / maps.sum(axis=(1, 2), keepdims=True)).mean(axis=0)
    return out


def pick_faces(labels: np.ndarray, fixed, per_class: int = 1) -> np.ndarray:
    """The faces at the indices `fixed`, then the first `per_class` faces of each class not already chosen."""
    fixed = [int(i) for i in fixed]
    bad = [i for i in fixed if not 0 <= i < len(labels)]
    if bad:
        raise IndexError(f"face index {bad[0]} is out of range: the split holds {len(labels)} faces")
    chosen = list(dict.fromkeys(fixed))
    for c in range(int(labels.max()) + 1 if len(labels) else 0):
        chosen += [int(i) for i in np.flatnonzero(labels == c) if i not in chosen][:per_class]
    return np.asarray(chosen, dtype=int)


def region_observations(shares) -> dict:
    """From `region_shares` of the class-average maps (rows: classes, then `area`): per region its share of
    all saliency, its share of the area and their ratio, sorted by that ratio, highest first; and the class
    that relies on each region most."""
    import pandas as pd

    classes = shares.drop(index="area")
    overall = classes.mean(axis=0)
    table = pd.DataFrame({"saliency": overall, "area": shares.loc["area"]})
    table["concentration"] = table["saliency"] / table["area"]
    return {"table": table.sort_values("concentration", ascending=False),
            "top_class": {region: classes[region].idxmax() for region in classes.columns}}


def output_detail(outputs: np.ndarray, blank_share: float = 0.01) -> dict:
    """How much one face's layer outputs (H, W, F) show: the number of near-blank filters (spatial std below
    `blank_share` of the layer's largest) and the mean spatial detail of the others (mean absolute
    difference between neighbouring positions, in units of the map's own std; higher is finer)."""
    maps = np.moveaxis(np.asarray(outputs, dtype="float64"), -1, 0)
    std = maps.std(axis=(1, 2))
    live = std > blank_share * std.max() if std.max() > 0 else np.zeros(len(std), bool)
    steps = (np.abs(np.diff(maps, axis=1)).mean(axis=(1, 2)) + np.abs(np.diff(maps, axis=2)).mean(axis=(1, 2))) / 2
    detail = steps[live] / std[live]
    return {"filters": len(maps), "near_blank": int((~live).sum()),
            "detail": float(detail.mean()) if live.any() else float("nan")}


def _classes(model: keras.Model, images: np.ndarray, class_index) -> np.ndarray:
    if class_index is None:
        return predicted_classes(model, images)
    return np.broadcast_to(np.asarray(class_index, dtype=int), (len(images),)).copy()
