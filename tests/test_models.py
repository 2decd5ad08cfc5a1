"""The report's networks: exact parameter counts, layer shapes, augmentation in training only, the optimizer."""

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
