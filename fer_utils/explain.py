"""What a trained network looks at: saliency, SmoothGrad, Grad-CAM, layer outputs, and images found by gradient
ascent on one filter. Every gradient goes through `value_and_grad`, one small branch per Keras backend."""

from __future__ import annotations

import numpy as np

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
    """Grad-CAM at `layer_name`: its maps weighted by the mean gradient of the class score, ReLU, resized to
    the input's size and scaled to [0, 1] per face; (N, 48, 48)."""
    classes = _classes(model, images, class_index)
    body, head = split_at(model, layer_name)
    activations = body.predict(images, verbose=0)
    one_hot = keras.ops.convert_to_tensor(np.eye(model.output_shape[-1], dtype="float32")[classes])
    last = model.layers[-1]

    def score(a):
        features = head(a, training=False)
        return keras.ops.sum((keras.ops.matmul(features, last.kernel) + last.bias) * one_hot)

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
    feature = keras.Model(model.input, model.get_layer(layer_name).output)
    x = np.random.default_rng(seed).normal(0, 0.05, (1, *model.input_shape[1:])).astype("float32")

    def activation(z):
        return keras.ops.mean(feature(z, training=False)[..., filter_index])

    start = None
    for _ in range(steps):
        value, grad = value_and_grad(activation, x)
        start = value if start is None else start
        x = np.clip(x + step_size * grad / (np.sqrt(np.mean(grad ** 2)) + 1e-8), -1, 1).astype("float32")
    final, _ = value_and_grad(activation, x)
    return x[0, :, :, 0], start, final


def split_at(model: keras.Model, layer_name: str) -> tuple[keras.Model, keras.Model]:
    """(body, head) of a chain model: body maps inputs to `layer_name`'s output, head maps that to the input
    of the last layer (the features before the final Dense)."""
    names = [layer.name for layer in model.layers]
    at = names.index(layer_name)
    body = keras.Model(model.input, model.layers[at].output)
    head_input = keras.Input(model.layers[at].output.shape[1:])
    x = head_input
    for layer in model.layers[at + 1:-1]:
        x = layer(x)
    return body, keras.Model(head_input, x)


def _classes(model: keras.Model, images: np.ndarray, class_index) -> np.ndarray:
    if class_index is None:
        return predicted_classes(model, images)
    return np.broadcast_to(np.asarray(class_index, dtype=int), (len(images),)).copy()


def confusion(y_true: np.ndarray, y_pred: np.ndarray):
    """Row-normalised confusion matrix (true class x predicted class, rows sum to 1) as a DataFrame."""
    import pandas as pd
    from sklearn.metrics import confusion_matrix

    from .data import CLASS_NAMES

    matrix = confusion_matrix(y_true, y_pred, labels=range(len(CLASS_NAMES)), normalize="true")
    return pd.DataFrame(matrix, index=pd.Index(CLASS_NAMES, name="true"),
                        columns=pd.Index(CLASS_NAMES, name="predicted"))


def per_class_metrics(y_true: np.ndarray, y_pred: np.ndarray):
    """Precision, recall, F1 and support per class (scikit-learn) as a DataFrame."""
    import pandas as pd
    from sklearn.metrics import precision_recall_fscore_support

    from .data import CLASS_NAMES

    p, r, f, n = precision_recall_fscore_support(y_true, y_pred, labels=range(len(CLASS_NAMES)), zero_division=0)
    return pd.DataFrame({"precision": p, "recall": r, "F1": f, "faces": n}, index=pd.Index(CLASS_NAMES, name="class"))


def confusion_observations(matrix) -> dict:
    """The easiest and hardest class (diagonal) and the largest confusion (off-diagonal) of `confusion`."""
    values = matrix.to_numpy().copy()
    diagonal = np.diag(values).copy()
    np.fill_diagonal(values, -1)
    true, predicted = np.unravel_index(values.argmax(), values.shape)
    names = list(matrix.index)
    return {"easiest": names[diagonal.argmax()], "easiest_recall": float(diagonal.max()),
            "hardest": names[diagonal.argmin()], "hardest_recall": float(diagonal.min()),
            "confused_true": names[true], "confused_predicted": names[predicted],
            "confused_share": float(values[true, predicted])}
