"""Interpretation: saliency against finite differences, SmoothGrad, Grad-CAM's size, gradient ascent."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from fer_utils import evaluation, explain  # noqa: E402
from fer_utils.models import keras as fk  # noqa: E402,F401  (quiet TensorFlow start-up)


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="tanh", name="conv1")(inputs)
    x = keras.layers.AveragePooling2D(4, name="pool1")(x)  # smooth, so finite differences are exact enough
    x = keras.layers.Conv2D(6, 3, padding="same", activation="tanh", name="conv2")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8, activation="tanh")(x)
    outputs = keras.layers.Dense(7, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    faces = np.random.default_rng(0).uniform(-1, 1, (3, 48, 48, 1)).astype("float32")
    return model, faces


def test_saliency_matches_finite_differences(tiny):
    model, faces = tiny
    saliency = explain.saliency_map(model, faces, class_index=2)
    assert saliency.shape == (3, 48, 48) and (saliency >= 0).all()
    scores = explain.logit_function(model)
    rng = np.random.default_rng(1)
    eps = 1e-2
    for face in range(3):
        for r, c in rng.integers(0, 48, (5, 2)):
            up, down = faces.copy(), faces.copy()
            up[face, r, c, 0] += eps
            down[face, r, c, 0] -= eps
            fd = (np.asarray(scores(up))[face, 2] - np.asarray(scores(down))[face, 2]) / (2 * eps)
            assert saliency[face, r, c] == pytest.approx(abs(fd), rel=0.05, abs=2e-4)


def test_saliency_uses_the_predicted_class_and_smoothgrad_averages(tiny):
    model, faces = tiny
    predicted = model.predict(faces, verbose=0).argmax(1)
    np.testing.assert_allclose(explain.saliency_map(model, faces), explain.saliency_map(model, faces, predicted))
    smooth = explain.smooth_grad(model, faces, samples=4)
    assert smooth.shape == (3, 48, 48) and np.isfinite(smooth).all()
    assert not np.allclose(smooth, explain.saliency_map(model, faces))


def test_grad_cam_has_the_input_size(tiny):
    model, faces = tiny
    cam = explain.grad_cam(model, faces, "conv2")
    assert cam.shape == (3, 48, 48) and cam.min() >= 0 and cam.max() <= 1


def test_layer_outputs_and_gradient_ascent(tiny):
    model, faces = tiny
    assert explain.layer_outputs(model, faces, "conv1").shape == (3, 48, 48, 4)
    image, start, reached = explain.maximize_filter(model, "conv2", 1, steps=30)
    assert image.shape == (48, 48) and reached > start + 0.05
    feature = keras.Model(model.input, model.get_layer("conv2").output)
    random_faces = np.random.default_rng(5).uniform(-1, 1, (200, 48, 48, 1)).astype("float32")
    assert reached > np.asarray(feature(random_faces))[..., 1].mean(axis=(1, 2)).max()  # beats random search


def test_confusion_and_its_observations():
    y_true = np.array([0, 0, 0, 0, 3, 3, 4, 4, 4, 4, 6, 6])
    y_pred = np.array([0, 0, 0, 6, 3, 3, 6, 4, 6, 4, 6, 4])
    matrix = evaluation.confusion(y_true, y_pred)
    assert matrix.shape == (7, 7) and matrix.loc["sad", "neutral"] == 0.5
    np.testing.assert_allclose(matrix.loc[["angry", "happy", "sad", "neutral"]].sum(axis=1), 1)
    seen = evaluation.confusion_observations(matrix)
    assert (seen["easiest"], seen["easiest_recall"]) == ("happy", 1.0)
    assert (seen["confused_true"], seen["confused_predicted"], seen["confused_share"]) == ("sad", "neutral", 0.5)
    assert seen["hardest"] in ("disgust", "fear", "surprise")  # classes without faces have recall 0


def test_batched_ascent_treats_each_filter_on_its_own(tiny):
    model, _ = tiny
    images, start, reached = explain.maximize_filters(model, "conv2", [1, 3, 1], steps=20)
    assert images.shape == (3, 48, 48) and (reached > start + 0.05).all()
    alone, alone_start, alone_reached = explain.maximize_filter(model, "conv2", 1, steps=20)
    np.testing.assert_allclose(images[0], alone, atol=1e-5)  # same noise, so the same path as one filter alone
    assert alone_reached == pytest.approx(reached[0], abs=1e-5)


def test_filter_correlations_find_copies_and_complements():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(10, 6, 6))
    outputs = np.stack([base, 2 * base + 1, rng.normal(size=base.shape), -base + 0.1 * rng.normal(size=base.shape),
                        np.full(base.shape, 3.0)], axis=-1)
    corr = explain.filter_correlations(outputs)
    assert corr.shape == (5, 5) and corr[0, 1] == pytest.approx(1) and corr[0, 3] < -0.95
    assert (corr[4, :4] == 0).all() and corr[4, 4] == 1  # a constant filter correlates with nothing
    pairs = explain.extreme_pairs(corr)
    assert pairs["similar"] == (0, 1) and pairs["complementary"] in ((0, 3), (1, 3))
    assert pairs["complementary_r"] < -0.95


def test_top_activating_ranks_faces_per_filter():
    outputs = np.zeros((4, 2, 2, 2))
    outputs[2, ..., 0], outputs[0, ..., 0] = 5, 3
    outputs[1, ..., 1], outputs[3, ..., 1] = 1, 2
    np.testing.assert_array_equal(explain.top_activating(outputs, 2), [[2, 0], [3, 1]])


def test_region_shares_and_what_they_say():
    maps = np.zeros((2, 48, 48))
    rows, cols = explain.FACE_REGIONS["mouth"]
    maps[0, rows, cols] = 1  # all saliency on the mouth
    maps[1] = 1  # uniform: each region gets its share of the area
    shares = explain.region_shares(maps)
    assert shares.loc[0, "mouth"] == 1 and shares.loc[0, "eyes"] == 0
    np.testing.assert_allclose(shares.loc[1], shares.loc["area"])
    seen = explain.region_observations(shares)
    assert seen["table"].index[0] == "mouth" and seen["top_class"]["mouth"] == 0


def test_keep_salient_removes_the_asked_share():
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (2, 48, 48)).astype("uint8")
    maps = rng.random((2, 48, 48))
    kept = explain.keep_salient(faces, maps, 0.75)
    assert np.isnan(kept).mean() == pytest.approx(0.75, abs=0.01)
    top = maps[0] >= np.quantile(maps[0], 0.75)
    np.testing.assert_array_equal(kept[0][top], faces[0][top])
    with pytest.raises(ValueError, match="share of pixels removed"):
        explain.keep_salient(faces, maps, 1.0)


def test_pick_faces_and_class_averages(tiny):
    model, faces = tiny
    labels = np.array([2, 0, 2, 5, 0])
    np.testing.assert_array_equal(explain.pick_faces(labels, [4]), [4, 1, 0, 3])
    with pytest.raises(IndexError, match="face index 9 is out of range"):
        explain.pick_faces(labels, [9])
    averages = explain.class_average_saliency(model, faces, np.array([0, 0, 3]), per_class=5)
    assert averages.shape == (7, 48, 48)
    np.testing.assert_allclose(averages[[0, 3]].sum(axis=(1, 2)), 1, rtol=1e-5)
    assert np.isnan(averages[[1, 2, 4, 5, 6]]).all()


def test_output_detail_counts_blank_filters_and_measures_fineness():
    rng = np.random.default_rng(0)
    ramp = np.add.outer(np.arange(20.0), np.arange(20.0))  # smooth: neighbours differ little against the spread
    outputs = np.stack([ramp, rng.normal(size=(20, 20)), np.zeros((20, 20)), np.full((20, 20), 1e-6) + ramp * 1e-9],
                       axis=-1)
    seen = explain.output_detail(outputs)
    assert (seen["filters"], seen["near_blank"]) == (4, 2)
    smooth, noisy = explain.output_detail(outputs[..., :1])["detail"], explain.output_detail(outputs[..., 1:2])["detail"]
    assert smooth < 0.25 < 1 < noisy
    assert seen["detail"] == pytest.approx((smooth + noisy) / 2)


def test_grad_cam_follows_a_model_that_is_not_a_plain_chain():
    """Two branches after the Grad-CAM layer merge again: cutting the model's own graph keeps both, and the maps
    equal a reference computed in one pass by `keras.Model(inputs, [layer.output, features])` and TensorFlow."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the reference uses TensorFlow's GradientTape")
    import tensorflow as tf

    keras.utils.set_random_seed(5)
    inputs = keras.Input((48, 48, 1))
    cut = keras.layers.Conv2D(4, 3, padding="same", activation="tanh", name="cut")(inputs)
    left = keras.layers.Conv2D(4, 3, padding="same", activation="tanh", name="left")(cut)
    right = keras.layers.Conv2D(4, 1, activation="tanh", name="right")(cut)
    merged = keras.layers.Add(name="merge")([left, right])
    features = keras.layers.Dense(8, activation="tanh")(keras.layers.Flatten()(keras.layers.AveragePooling2D(4)(merged)))
    model = keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(features))
    faces = np.random.default_rng(1).uniform(-1, 1, (2, 48, 48, 1)).astype("float32")

    cam = explain.grad_cam(model, faces, "cut", class_index=3)

    last = model.layers[-1]
    both = keras.Model(model.input, [model.get_layer("cut").output, last.input])
    with tf.GradientTape() as tape:
        maps, feats = both(faces, training=False)
        score = tf.reduce_sum((tf.matmul(feats, last.kernel) + last.bias)[:, 3])
    grads = tape.gradient(score, maps).numpy()
    reference = np.maximum((grads.mean(axis=(1, 2), keepdims=True) * maps.numpy()).sum(axis=-1), 0)
    reference = reference / reference.reshape(2, -1).max(axis=1).reshape(-1, 1, 1)
    np.testing.assert_allclose(cam, reference, atol=1e-5)  # 48x48 maps: the resize is the identity here
