"""The report's networks, exactly: the CNN (1,703,623 trainable parameters) with in-graph augmentation, and
the DNN (1,974,791); both compiled with Adam and the report's learning-rate decay."""

from __future__ import annotations

from .runtime import import_keras_quietly

import_keras_quietly()

import keras  # noqa: E402
from keras import layers  # noqa: E402

from .data import CLASS_NAMES, IMAGE_SIDE  # noqa: E402

INPUT_SHAPE = (IMAGE_SIDE, IMAGE_SIDE, 1)
LEARNING_RATE = 1e-3
DECAY = 5e-5  # the report's Keras 1/2 `decay`: lr_t = lr / (1 + decay * t), t the optimizer step
CNN_PARAMETERS = 1_703_623
DNN_PARAMETERS = 1_974_791


def augmentation(seed: int | None = None) -> keras.Sequential:
    """The report's augmentation as preprocessing layers (active in training only): rotation within
    +-30 degrees, horizontal flip, shifts within +-10% (4.8 px) both ways, zoom 0.8-1.2."""
    return keras.Sequential([
        layers.RandomRotation(30 / 360, fill_mode="nearest", seed=seed),
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed),
        layers.RandomZoom((-0.2, 0.2), fill_mode="nearest", seed=seed),
    ], name="augmentation")


def build_cnn(augment: bool = True, seed: int | None = None) -> keras.Model:
    """Four conv blocks (32, 64, 128, 256 filters) and two dense layers (512, 256), compiled."""
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = augmentation(seed)(inputs) if augment else inputs
    for block, (filters, dropout) in enumerate(zip((32, 64, 128, 256), (0, 0.1, 0.2, 0.2)), start=1):
        x = layers.Conv2D(filters, 3, padding="same", name=f"conv{block}")(x)
        x = layers.BatchNormalization(name=f"conv{block}_bn")(x)
        x = layers.LeakyReLU(name=f"conv{block}_act")(x)
        x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"pool{block}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = _dense_block(x, 512, "dense1", dropout=0.5)
    x = _dense_block(x, 256, "dense2", dropout=0.1)
    outputs = layers.Dense(len(CLASS_NAMES), activation="softmax", name="emotion")(x)
    return _compiled(keras.Model(inputs, outputs, name="cnn" if augment else "cnn_noaug"))


def build_dnn() -> keras.Model:
    """Six dense layers (512, 512, 512, 256, 256, 256) on the flattened face, compiled."""
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = layers.Flatten(name="flatten")(inputs)
    for i, (units, dropout) in enumerate(zip((512, 512, 512, 256, 256, 256), (0, 0.1, 0.1, 0.1, 0.1, 0.1)), 1):
        x = _dense_block(x, units, f"dense{i}", dropout)
    outputs = layers.Dense(len(CLASS_NAMES), activation="softmax", name="emotion")(x)
    return _compiled(keras.Model(inputs, outputs, name="dnn"))


def _dense_block(x, units: int, name: str, dropout: float):
    x = layers.Dense(units, name=name)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = layers.LeakyReLU(name=f"{name}_act")(x)
    return layers.Dropout(dropout, name=f"{name}_dropout")(x) if dropout else x


def optimizer() -> keras.optimizers.Adam:
    """Adam at 1e-3 with the old Keras `decay=5e-5`: InverseTimeDecay with one step per decay step."""
    schedule = keras.optimizers.schedules.InverseTimeDecay(LEARNING_RATE, decay_steps=1, decay_rate=DECAY)
    return keras.optimizers.Adam(learning_rate=schedule)


def _compiled(model: keras.Model) -> keras.Model:
    model.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def trainable_parameters(model: keras.Model) -> int:
    """Trainable parameters, counted from the weights themselves."""
    return int(sum(w.numpy().size for w in model.trainable_weights))


BUILDERS = {"cnn": lambda seed=None: build_cnn(True, seed), "cnn_noaug": lambda seed=None: build_cnn(False, seed),
            "dnn": lambda seed=None: build_dnn()}
