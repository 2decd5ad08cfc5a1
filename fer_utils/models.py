"""The report's networks, exactly: the CNN (1,703,623 trainable parameters) with in-graph augmentation, and
the DNN (1,974,791), both compiled with Adam and the report's learning-rate decay; Tang's 2013 DLSVM network
(5,008,295) with its L2-SVM objective or a softmax head, compiled with SGD and momentum; and the same CNN with a
tuned recipe (lighter augmentation, AdamW, warm-up and cosine decay over a fixed number of steps)."""

from __future__ import annotations

from .runtime import import_keras_quietly

import_keras_quietly()

import keras  # noqa: E402
from keras import layers  # noqa: E402

from .labels import CLASS_NAMES, IMAGE_SIDE  # noqa: E402

INPUT_SHAPE = (IMAGE_SIDE, IMAGE_SIDE, 1)
LEARNING_RATE = 1e-3
DECAY = 5e-5  # the report's Keras 1/2 `decay`: lr_t = lr / (1 + decay * t), t the optimizer step
CNN_PARAMETERS = 1_703_623
DNN_PARAMETERS = 1_974_791
DLSVM_PARAMETERS = 5_008_295
DLSVM_CROP = 42  # Tang's input: 42x42 crops of the 48x48 face
DLSVM_L2 = 1e-3  # L2 penalty on the last layer's weights, both heads
DLSVM_LEARNING_RATE = 0.01
DLSVM_DECAY = 1e-4  # lr_t = lr / (1 + decay * t), t the optimizer step
DLSVM_MOMENTUM = 0.9
TUNED_PEAK_RATE = 2e-3
TUNED_WARMUP = 0.05  # share of the training's steps spent warming up
TUNED_WEIGHT_DECAY = 1e-4
TUNED_ROTATION = 0  # degrees; the first 80-epoch run used 10, with zoom 0.1
TUNED_SHIFT = 0.1
TUNED_ZOOM = 0.0
ERASING = 0.5  # the erasing variant: share of training faces with one rectangle erased to the mean face
LABEL_SMOOTHING = 0.1  # the erasing variant: share of each target spread evenly over the seven classes
TEACHER_SHARE = 0.75  # the distilled CNN: share of each target that is the teacher's probabilities, the rest the label


def augmentation(seed: int | None = None) -> keras.Sequential:
    """The report's augmentation as preprocessing layers (active in training only): rotation within
    +-30 degrees, horizontal flip, shifts within +-10% (4.8 px) both ways, zoom 0.8-1.2."""
    return keras.Sequential([
        layers.RandomRotation(30 / 360, fill_mode="nearest", seed=seed),
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed),
        layers.RandomZoom((-0.2, 0.2), fill_mode="nearest", seed=seed),
    ], name="augmentation")


def keras2_transforms(theta, tx, ty, zx, zy, side: int = IMAGE_SIDE):
    """Keras 2's ImageDataGenerator transform, as `keras.ops.image.affine_transform` rows (N, 8): rotation by
    `theta` degrees, then shifts (`tx` rows, `ty` columns, in pixels), then zoom (`zx` on rows, `zy` on columns,
    drawn independently), composed into one matrix about the image centre (Keras 2's `side / 2 + 0.5`) that maps
    each output pixel to the input point it samples."""
    ops = keras.ops
    angle = ops.convert_to_tensor(theta, "float32") * (3.141592653589793 / 180)
    cos, sin = ops.cos(angle), ops.sin(angle)
    zx, zy = ops.convert_to_tensor(zx, "float32"), ops.convert_to_tensor(zy, "float32")
    tx, ty = ops.convert_to_tensor(tx, "float32"), ops.convert_to_tensor(ty, "float32")
    # rotation @ shift @ zoom in (row, column) coordinates: [[m00, m01, m02], [m10, m11, m12]]
    m00, m01, m02 = cos * zx, -sin * zy, cos * tx - sin * ty
    m10, m11, m12 = sin * zx, cos * zy, sin * tx + cos * ty
    centre = side / 2 + 0.5
    m02 = m02 + centre - (m00 + m01) * centre  # offset @ matrix @ reset about the centre
    m12 = m12 + centre - (m10 + m11) * centre
    zero = ops.zeros_like(m00)
    # keras' rows map an output (x = column, y = row) to the input point (x', y')
    return ops.stack([m11, m10, m12, m01, m00, m02, zero, zero], axis=-1)


@keras.saving.register_keras_serializable(package="fer_utils")
class Keras2Augmentation(layers.Layer):
    """The report's augmentation as Keras 2's ImageDataGenerator drew and applied it (training only): rotation
    within +-`rotation` degrees, shifts within +-`shift` of the side, zoom within 1 +- `zoom` drawn independently
    for rows and columns (a face stretched, not only scaled), one bilinear resampling with the edge repeated,
    then a horizontal flip with probability 1/2."""

    def __init__(self, rotation: float = 30, shift: float = 0.1, zoom: float = 0.2, seed: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.rotation, self.shift, self.zoom, self.seed = rotation, shift, zoom, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training:
            return images
        n, side = keras.ops.shape(images)[0], images.shape[1]

        def draw(limit, centre=0.0):
            return keras.random.uniform((n,), centre - limit, centre + limit, seed=self.seed_generator)

        transforms = keras2_transforms(draw(self.rotation), draw(self.shift) * side, draw(self.shift) * side,
                                       draw(self.zoom, 1.0), draw(self.zoom, 1.0), side)
        moved = keras.ops.image.affine_transform(images, transforms, interpolation="bilinear", fill_mode="nearest")
        flip = keras.random.uniform((n, 1, 1, 1), seed=self.seed_generator) < 0.5
        return keras.ops.where(flip, keras.ops.flip(moved, axis=2), moved)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rotation": self.rotation, "shift": self.shift, "zoom": self.zoom,
                "seed": self.seed}


def build_cnn(augment: bool = True, seed: int | None = None, keras2: bool = False) -> keras.Model:
    """Four conv blocks (32, 64, 128, 256 filters) and two dense layers (512, 256), compiled with the report's
    Adam and decay; with `keras2`, behind the augmentation as Keras 2's ImageDataGenerator applied it."""
    inputs = keras.Input(INPUT_SHAPE, name="face")
    if keras2:
        x = Keras2Augmentation(seed=seed, name="augmentation")(inputs)
    else:
        x = augmentation(seed)(inputs) if augment else inputs
    name = "cnn_keras2" if keras2 else "cnn" if augment else "cnn_noaug"
    return _compiled(keras.Model(inputs, _cnn_layers(x), name=name))


def light_augmentation(seed: int | None = None, rotation: float = TUNED_ROTATION, shift: float = TUNED_SHIFT,
                       zoom: float = TUNED_ZOOM, erasing: float = 0.0) -> keras.Sequential:
    """The tuned recipe's augmentation (training only): horizontal flip, then rotation within +-`rotation`
    degrees, shifts within +-`shift` of the side and zoom within +-`zoom`, and in a share `erasing` of the faces
    one random rectangle (each side 14-57% of the face's) set to 0, the mean face (random erasing, Zhong et al.
    2020); each left out when its strength is 0."""
    steps = [layers.RandomFlip("horizontal", seed=seed)]
    if rotation:
        steps.append(layers.RandomRotation(rotation / 360, fill_mode="nearest", seed=seed))
    if shift:
        steps.append(layers.RandomTranslation(shift, shift, fill_mode="nearest", seed=seed))
    if zoom:
        steps.append(layers.RandomZoom((-zoom, zoom), fill_mode="nearest", seed=seed))
    if erasing:
        steps.append(layers.RandomErasing((erasing, erasing), fill_value=0.0, value_range=(-1, 1), seed=seed))
    return keras.Sequential(steps, name="augmentation")


def build_cnn_tuned(seed: int | None = None, total_steps: int = 10_000, peak_rate: float = TUNED_PEAK_RATE,
                    warmup: float = TUNED_WARMUP, weight_decay: float = TUNED_WEIGHT_DECAY, augment: bool = True,
                    label_smoothing: float = 0.0, name: str = "cnn_tuned", **augmentation_strength) -> keras.Model:
    """The report's CNN layer for layer (1,703,623 parameters, its dropouts included) with a modern recipe:
    lighter augmentation, AdamW warming up linearly to `peak_rate` over `warmup` of `total_steps`, then a cosine
    decay to zero at the last step, decoupled weight decay on the kernels (not on batch-norm or bias); with
    `label_smoothing`, cross-entropy against targets that give that share evenly to every class."""
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = light_augmentation(seed, **augmentation_strength)(inputs) if augment else inputs
    model = keras.Model(inputs, _cnn_layers(x), name=name if augment else f"{name}_noaug")
    warm = max(1, int(total_steps * warmup))
    schedule = keras.optimizers.schedules.CosineDecay(0.0, max(1, total_steps - warm), alpha=0.0,
                                                      warmup_target=peak_rate, warmup_steps=warm)
    adamw = keras.optimizers.AdamW(schedule, weight_decay=weight_decay)
    adamw.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    loss = SmoothedCrossentropy(label_smoothing) if label_smoothing else "sparse_categorical_crossentropy"
    model.compile(optimizer=adamw, loss=loss, metrics=["accuracy"])
    return model


def build_cnn_erasing(seed: int | None = None, **recipe) -> keras.Model:
    """The tuned recipe with random erasing (`ERASING` of the faces) and label smoothing (`LABEL_SMOOTHING`)."""
    return build_cnn_tuned(seed, erasing=ERASING, label_smoothing=LABEL_SMOOTHING, name="cnn_erasing", **recipe)


def build_cnn_distilled(seed: int | None = None, **recipe) -> keras.Model:
    """The tuned recipe trained on a teacher's probabilities (`fer_utils.distill`): its targets are the face's
    label and the teacher's seven probabilities, (1 - `TEACHER_SHARE`) of one and `TEACHER_SHARE` of the other."""
    model = build_cnn_tuned(seed, name="cnn_distilled", **recipe)
    model.compile(optimizer=model.optimizer, loss=DistillationCrossentropy(TEACHER_SHARE),
                  metrics=[LabelAccuracy(name="accuracy")])
    return model


def _labels(y_true):
    """The integer labels of `y_true`: the labels themselves, or the first column of [label, probabilities]."""
    return keras.ops.cast(y_true[:, 0] if len(y_true.shape) == 2 else y_true, "int32")


@keras.saving.register_keras_serializable(package="fer_utils")
class DistillationCrossentropy(keras.losses.Loss):
    """Cross-entropy against targets made of a label and a teacher's probabilities: given rows [label, p_1..p_7]
    (training), the target is (1 - `teacher_share`) on the label plus `teacher_share` times the teacher's
    probabilities; given labels alone (val, test), plain cross-entropy."""

    def __init__(self, teacher_share: float = TEACHER_SHARE, name: str = "distillation_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.teacher_share = float(teacher_share)

    def call(self, y_true, y_pred):
        classes = y_pred.shape[-1]
        targets = keras.ops.one_hot(_labels(y_true), classes)
        if len(y_true.shape) == 2 and y_true.shape[-1] == classes + 1:
            teacher = keras.ops.cast(y_true[:, 1:], y_pred.dtype)
            targets = (1 - self.teacher_share) * targets + self.teacher_share * teacher
        return keras.losses.categorical_crossentropy(targets, y_pred)

    def get_config(self):
        return {**super().get_config(), "teacher_share": self.teacher_share}


@keras.saving.register_keras_serializable(package="fer_utils")
class LabelAccuracy(keras.metrics.MeanMetricWrapper):
    """Accuracy against the labels of `y_true` (alone, or the first column of [label, probabilities])."""

    def __init__(self, name: str = "accuracy", dtype=None):
        super().__init__(lambda y_true, y_pred: keras.ops.cast(
            keras.ops.equal(_labels(y_true), keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32")), "float32"),
            name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="fer_utils")
class SmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels against smoothed targets: 1 - `smoothing` on the face's class plus
    `smoothing` / 7 on every class (Keras' categorical loss, given one-hot targets)."""

    def __init__(self, smoothing: float = LABEL_SMOOTHING, name: str = "smoothed_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.smoothing = float(smoothing)

    def call(self, y_true, y_pred):
        labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        targets = keras.ops.one_hot(labels, keras.ops.shape(y_pred)[-1])
        return keras.losses.categorical_crossentropy(targets, y_pred, label_smoothing=self.smoothing)

    def get_config(self):
        return {**super().get_config(), "smoothing": self.smoothing}


def _cnn_layers(x):
    """The report's CNN after its input (and augmentation): the class probabilities."""
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
    return layers.Dense(len(CLASS_NAMES), activation="softmax", name="emotion", dtype="float32")(x)


def build_dnn(augment: bool = False, seed: int | None = None) -> keras.Model:
    """Six dense layers (512, 512, 512, 256, 256, 256) on the flattened face, compiled; with `augment`, behind the
    report's augmentation layers (as its description of Figure 3 implies: training worse than validation)."""
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = layers.Flatten(name="flatten")(augmentation(seed)(inputs) if augment else inputs)
    for i, (units, dropout) in enumerate(zip((512, 512, 512, 256, 256, 256), (0, 0.1, 0.1, 0.1, 0.1, 0.1)), 1):
        x = _dense_block(x, units, f"dense{i}", dropout)
    outputs = layers.Dense(len(CLASS_NAMES), activation="softmax", name="emotion", dtype="float32")(x)
    return _compiled(keras.Model(inputs, outputs, name="dnn_aug" if augment else "dnn"))


@keras.saving.register_keras_serializable(package="fer_utils")
def squared_hinge(y_true, scores):
    """Tang's one-vs-rest L2-SVM loss: integer labels become targets +1 (the class) and -1 (the others);
    the loss of a face is the sum over classes of max(0, 1 - t * score)^2."""
    classes = keras.ops.shape(scores)[-1]
    targets = 2 * keras.ops.one_hot(keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,)), classes) - 1
    return keras.ops.sum(keras.ops.square(keras.ops.relu(1 - targets * scores)), axis=-1)


def dlsvm_augmentation(seed: int | None = None) -> keras.Sequential:
    """Tang-style jitter (training only): mirroring, rotation within +-5 degrees, zoom within +-5%, and
    shifts of up to 3 px, which with the centre crop that follows make a random 42x42 crop."""
    shift = (IMAGE_SIDE - DLSVM_CROP) / 2 / IMAGE_SIDE
    return keras.Sequential([
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomRotation(5 / 360, fill_mode="nearest", seed=seed),
        layers.RandomZoom((-0.05, 0.05), fill_mode="nearest", seed=seed),
        layers.RandomTranslation(shift, shift, fill_mode="nearest", seed=seed),
    ], name="augmentation")


def build_dlsvm(head: str = "svm", seed: int | None = None) -> keras.Model:
    """Tang's network on 42x42 crops of the 48x48 face: conv 32 5x5 -> max pool 3/2; conv 32 4x4 -> average
    pool 3/2; conv 64 5x5 -> average pool 3/2; dense 3072, dropout; 7 linear outputs. Paddings make Tang's
    rounded-up pooling (21x21, 10x10, 5x5 maps). `head` "svm": squared hinge loss, linear scores out;
    "softmax": cross-entropy, probabilities out. Compiled with SGD, momentum and a decaying rate."""
    if head not in ("svm", "softmax"):
        raise ValueError(f"head must be 'svm' or 'softmax', got {head!r}")
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = dlsvm_augmentation(seed)(inputs)
    x = layers.CenterCrop(DLSVM_CROP, DLSVM_CROP, name="crop")(x)
    x = layers.Conv2D(32, 5, padding="same", activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)  # 42 -> 21
    x = layers.Conv2D(32, 4, padding="same", activation="relu", name="conv2")(x)
    x = layers.AveragePooling2D(3, strides=2, padding="valid", name="pool2")(x)  # 21 -> 10
    x = layers.Conv2D(64, 5, padding="same", activation="relu", name="conv3")(x)
    x = layers.AveragePooling2D(3, strides=2, padding="same", name="pool3")(x)  # 10 -> 5
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(3072, activation="relu", name="dense1")(x)
    x = layers.Dropout(0.5, name="dense1_dropout")(x)
    outputs = layers.Dense(len(CLASS_NAMES), activation=None if head == "svm" else "softmax", name="emotion",
                           kernel_regularizer=keras.regularizers.L2(DLSVM_L2), dtype="float32")(x)
    model = keras.Model(inputs, outputs, name=f"dlsvm_{head}")
    schedule = keras.optimizers.schedules.InverseTimeDecay(DLSVM_LEARNING_RATE, decay_steps=1, decay_rate=DLSVM_DECAY)
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=DLSVM_MOMENTUM),
                  loss=squared_hinge if head == "svm" else "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


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


def layer_table(model: keras.Model):
    """Each layer's name, type, output shape (without the batch) and parameter count, as a DataFrame."""
    import pandas as pd

    rows = [{"layer": layer.name, "type": type(layer).__name__, "output shape": tuple(layer.output.shape[1:]),
             "parameters": layer.count_params()} for layer in model.layers[1:]]
    return pd.DataFrame(rows).set_index("layer")


def trainable_parameters(model: keras.Model) -> int:
    """Trainable parameters, counted from the weights themselves."""
    return int(sum(w.numpy().size for w in model.trainable_weights))


def inference_network(model):
    """The network of a trained model as it reads faces: its layers after the input in order, the augmentation
    block (active in training only) left out, every layer computing in float32 with the trained weights (a model
    trained in mixed precision computes in bfloat16 or float16 otherwise). A model whose layers are not one
    chain, each on the one before, is refused (ValueError)."""
    chain = model.layers
    if not all(chain[i].input is chain[i - 1].output for i in range(1, len(chain))):
        raise ValueError(f"{model.name}: its layers are not one chain, each on the one before")
    face = keras.Input((IMAGE_SIDE, IMAGE_SIDE, 1), name="face")
    x = face
    for layer in model.layers[1:]:
        if layer.name == "augmentation":
            continue
        copy = type(layer).from_config({**layer.get_config(), "dtype": "float32"})
        x = copy(x)
        copy.set_weights(layer.get_weights())
    return keras.Model(face, x, name=f"{model.name}_inference")
