"""The report's networks and Tang's DLSVM: exact parameter counts, layer shapes, augmentation in training only,
the optimizers, the L2-SVM loss."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from fer_utils import models  # noqa: E402


def count_trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def test_cnn_has_the_reports_parameter_count_and_map_sizes():
    cnn = models.build_cnn()
    assert count_trainable(cnn) == 1_703_623 == models.trainable_parameters(cnn)
    sizes = [cnn.get_layer(f"pool{i}").output.shape[1:3] for i in range(1, 5)]
    assert [tuple(s) for s in sizes] == [(24, 24), (12, 12), (6, 6), (3, 3)]
    assert cnn.get_layer("flatten").output.shape[-1] == 2304
    assert [cnn.get_layer(f"conv{i}").filters for i in range(1, 5)] == [32, 64, 128, 256]
    rates = {layer.name: layer.rate for layer in cnn.layers if isinstance(layer, keras.layers.Dropout)}
    assert rates == {"pool2_dropout": 0.1, "pool3_dropout": 0.2, "pool4_dropout": 0.2, "dense1_dropout": 0.5,
                     "dense2_dropout": 0.1}
    assert count_trainable(models.build_cnn(augment=False)) == 1_703_623


def test_dnn_has_the_reports_parameter_count():
    dnn = models.build_dnn()
    assert count_trainable(dnn) == 1_974_791
    dense = [layer.units for layer in dnn.layers if isinstance(layer, keras.layers.Dense)]
    assert dense == [512, 512, 512, 256, 256, 256, 7]


def test_augmentation_changes_faces_in_training_only():
    faces = np.random.default_rng(0).uniform(-1, 1, (8, 48, 48, 1)).astype("float32")
    aug = models.augmentation(seed=1)
    np.testing.assert_array_equal(np.asarray(aug(faces, training=False)), faces)
    assert not np.allclose(np.asarray(aug(faces, training=True)), faces)
    cnn = models.build_cnn(seed=1)
    np.testing.assert_allclose(np.asarray(cnn(faces, training=False)), np.asarray(cnn(faces, training=False)))


def test_optimizer_reproduces_the_old_keras_decay():
    cnn = models.build_cnn()
    opt = cnn.optimizer
    assert isinstance(opt, keras.optimizers.Adam)
    schedule = opt._learning_rate
    for step in (0, 1, 225, 10_000, 67_500):
        assert float(schedule(step)) == pytest.approx(1e-3 / (1 + 5e-5 * step), rel=1e-6)
    assert cnn.loss == "sparse_categorical_crossentropy"


def test_dlsvm_has_tangs_layer_shapes_and_parameter_count():
    for head in ("svm", "softmax"):
        net = models.build_dlsvm(head)
        assert count_trainable(net) == 5_008_295 == models.DLSVM_PARAMETERS
        shapes = {name: tuple(net.get_layer(name).output.shape[1:]) for name in
                  ("crop", "conv1", "pool1", "conv2", "pool2", "conv3", "pool3", "dense1", "emotion")}
        assert shapes == {"crop": (42, 42, 1), "conv1": (42, 42, 32), "pool1": (21, 21, 32), "conv2": (21, 21, 32),
                          "pool2": (10, 10, 32), "conv3": (10, 10, 64), "pool3": (5, 5, 64), "dense1": (3072,),
                          "emotion": (7,)}
        assert [net.get_layer(f"conv{i}").kernel_size for i in (1, 2, 3)] == [(5, 5), (4, 4), (5, 5)]
        assert isinstance(net.get_layer("pool1"), keras.layers.MaxPooling2D)
        assert isinstance(net.optimizer, keras.optimizers.SGD) and net.optimizer.momentum == 0.9
    table = models.layer_table(net)
    assert table.loc["pool2", "output shape"] == (10, 10, 32) and table["parameters"].sum() == 5_008_295
    assert models.build_dlsvm("svm").get_layer("emotion").activation.__name__ == "linear"
    with pytest.raises(ValueError, match="head must be"):
        models.build_dlsvm("hinge")


def test_squared_hinge_matches_a_hand_computed_value():
    scores = np.array([[2.0, -0.5, 0.3], [0.0, 0.0, 0.0]], dtype="float32")
    labels = np.array([0, 2])
    # face 1, targets (+1, -1, -1): max(0, 1-2)^2 + max(0, 1-0.5)^2 + max(0, 1+0.3)^2 = 0 + 0.25 + 1.69
    # face 2, every margin is 1: 3 classes x 1
    np.testing.assert_allclose(np.asarray(models.squared_hinge(labels, scores)), [1.94, 3.0], rtol=1e-6)


def test_dlsvm_jitters_in_training_and_crops_the_centre_at_inference():
    faces = np.random.default_rng(0).normal(size=(4, 48, 48, 1)).astype("float32")
    net = models.build_dlsvm("svm", seed=1)
    crop = keras.Model(net.input, net.get_layer("crop").output)
    np.testing.assert_array_equal(np.asarray(crop(faces, training=False)), faces[:, 3:45, 3:45])
    assert not np.allclose(np.asarray(crop(faces, training=True)), faces[:, 3:45, 3:45])


def test_the_tuned_cnn_keeps_the_reports_layers_with_its_own_recipe():
    """Same layers and parameters as the report's CNN; lighter augmentation (flip and shifts, no rotation or
    zoom unless asked); AdamW warming up over 5% of the
    steps to 2e-3, then a cosine decay to zero at the last step; no weight decay on batch-norm or biases."""
    tuned, report = models.build_cnn_tuned(total_steps=1000), models.build_cnn()
    assert models.trainable_parameters(tuned) == models.CNN_PARAMETERS
    layers = lambda m: [(type(layer).__name__, tuple(layer.output.shape)) for layer in m.layers[2:]]  # noqa: E731
    assert layers(tuned) == layers(report)
    assert [layer.rate for layer in tuned.layers if isinstance(layer, keras.layers.Dropout)] == [0.1, 0.2, 0.2, 0.5, 0.1]
    kinds = lambda m: [type(layer).__name__ for layer in m.get_layer("augmentation").layers]  # noqa: E731
    assert kinds(tuned) == ["RandomFlip", "RandomTranslation"]
    stronger = models.build_cnn_tuned(total_steps=1000, rotation=10, zoom=0.1)
    assert kinds(stronger) == ["RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom"]
    assert stronger.get_layer("augmentation").layers[1].factor == (-10 / 360, 10 / 360)
    opt = tuned.optimizer
    assert isinstance(opt, keras.optimizers.AdamW) and opt.weight_decay == pytest.approx(1e-4)
    schedule = opt._learning_rate
    assert float(schedule(0)) == 0 and float(schedule(50)) == pytest.approx(2e-3, rel=1e-5)
    assert float(schedule(525)) == pytest.approx(1e-3, rel=1e-3) and float(schedule(1000)) == pytest.approx(0, abs=1e-9)
    decayed = {v.name for v in tuned.trainable_variables if opt._use_weight_decay(v)}
    assert "kernel" in decayed and not decayed & {"bias", "gamma", "beta"}


def test_the_keras2_augmentation_is_keras_2s_transform():
    """`keras2_transforms` resamples a face as Keras 2's ImageDataGenerator did (its matrix, written out here with
    scipy as keras_preprocessing applied it: rotation, shift, independent zoom, about side / 2 + 0.5, bilinear,
    edge repeated); the layer is the identity at inference and a random draw in training."""
    from scipy import ndimage

    def keras2(image, theta, tx, ty, zx, zy):
        t = np.deg2rad(theta)
        m = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]]) @ \
            np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]]) @ np.diag([zx, zy, 1])
        o = image.shape[0] / 2 + 0.5
        m = np.array([[1, 0, o], [0, 1, o], [0, 0, 1]]) @ m @ np.array([[1, 0, -o], [0, 1, -o], [0, 0, 1]])
        return ndimage.affine_transform(image, m[:2, :2], m[:2, 2], order=1, mode="nearest")

    face = ndimage.gaussian_filter(np.random.default_rng(0).uniform(0, 1, (48, 48)), 2).astype(np.float32)
    for params in [(20, 3, -2, 1.1, 0.9), (-30, -4.8, 4.8, 0.8, 1.2)]:
        rows = models.keras2_transforms(*[np.array([p], np.float32) for p in params])
        moved = models.keras.ops.image.affine_transform(face[None, :, :, None], rows, "bilinear", "nearest")
        assert np.abs(models.keras.ops.convert_to_numpy(moved)[0, :, :, 0] - keras2(face, *params)).max() < 1e-5
    layer = models.Keras2Augmentation(seed=1)
    batch = np.repeat(face[None, :, :, None], 4, axis=0)
    assert np.array_equal(models.keras.ops.convert_to_numpy(layer(batch, training=False)), batch)
    drawn = models.keras.ops.convert_to_numpy(layer(batch, training=True))
    assert drawn.shape == batch.shape and not np.allclose(drawn[0], drawn[1])
    net = models.build_cnn(keras2=True, seed=0)
    assert models.trainable_parameters(net) == models.CNN_PARAMETERS and net.name == "cnn_keras2"


def test_the_ensemble_members_recipes_keep_the_reports_network():
    erasing, student = models.build_cnn_erasing(total_steps=100), models.build_cnn_distilled(total_steps=100)
    assert models.trainable_parameters(erasing) == models.trainable_parameters(student) == models.CNN_PARAMETERS
    steps = [type(layer).__name__ for layer in erasing.get_layer("augmentation").layers]
    assert steps == ["RandomFlip", "RandomTranslation", "RandomErasing"]
    assert erasing.loss.smoothing == models.LABEL_SMOOTHING and student.loss.teacher_share == models.TEACHER_SHARE


def test_random_erasing_sets_rectangles_to_the_mean_face_in_training_only():
    faces = np.random.default_rng(0).uniform(0.5, 1, (64, 48, 48, 1)).astype("float32")  # no pixel at 0
    aug = models.light_augmentation(seed=3, shift=0, erasing=models.ERASING)
    np.testing.assert_array_equal(np.asarray(aug(faces, training=False)), faces)
    out = np.asarray(aug(faces, training=True))
    erased = (out == 0).any(axis=(1, 2, 3))
    assert 0.25 < erased.mean() < 0.75  # about half the faces
    rows, cols = np.nonzero(out[np.argmax(erased), :, :, 0] == 0)
    assert (out[np.argmax(erased), rows.min():rows.max() + 1, cols.min():cols.max() + 1] == 0).all()  # a rectangle


def test_smoothed_and_distillation_losses_match_their_targets_by_hand():
    p = np.random.default_rng(1).dirichlet(np.ones(7), 5).astype("float32")
    labels = np.array([0, 3, 6, 2, 2])
    onehot = np.eye(7)[labels]

    def crossentropy(targets):
        return float(np.mean(-(targets * np.log(p)).sum(1)))

    smoothed = models.SmoothedCrossentropy(0.1)(labels, p)
    assert float(smoothed) == pytest.approx(crossentropy(0.9 * onehot + 0.1 / 7), rel=1e-5)
    teacher = np.random.default_rng(2).dirichlet(np.ones(7), 5)
    rows = np.column_stack([labels, teacher]).astype("float32")
    distilled = models.DistillationCrossentropy(0.75)
    assert float(distilled(rows, p)) == pytest.approx(crossentropy(0.25 * onehot + 0.75 * teacher), rel=1e-5)
    assert float(distilled(labels, p)) == pytest.approx(crossentropy(onehot), rel=1e-5)  # val: the labels alone
    for y in (labels, rows):
        accuracy = models.LabelAccuracy()
        accuracy.update_state(y, p)
        assert float(accuracy.result()) == pytest.approx(np.mean(p.argmax(1) == labels))
