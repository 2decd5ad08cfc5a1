"""The model registry: every model the series trains, named once with what the rest of the package derives from
it (its builder, the profile's epochs key, its label in tables and plots, its preprocessing, its test-time
views, the notebook that trains it). Adding a model is one `register(ModelSpec(...))` and its builder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .errors import UserError

VIEWS = ("plain", "mirror", "mirror x 5 shifts", "mirror x 9 shifts")  # every model's test-time view sets
CROP_VIEWS = (*VIEWS, "mirror x 5 crops")  # and for models that see a centre crop of the face


@dataclass(frozen=True)
class ModelSpec:
    """One trainable model. `build(seed)` returns it compiled; `preprocessing` is a kind of
    `fer_utils.preprocess.KINDS`; `views`: the test-time view sets (`fer_utils.views.VIEW_SETS`) it may
    be scored with, one chosen on val; `notebook` trains it and is named when its results are missing;
    `scores`: it outputs class scores (an SVM head), not probabilities; `schedule_steps`: its learning rate
    follows a schedule over the whole training, so the builder is given `total_steps` and a training asked for
    other epochs starts afresh instead of continuing; `optional`: an experiment that a profile leaves out with 0
    epochs; `student`: trained on the run's ensemble's probabilities as well as the labels (`fer_utils.distill`),
    so never a member of that ensemble."""

    name: str
    label: str
    build: Callable = field(repr=False)
    epochs_key: str
    notebook: str
    preprocessing: str = "report"
    views: tuple[str, ...] = VIEWS
    scores: bool = False
    schedule_steps: bool = False
    optional: bool = False
    student: bool = False


MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add `spec` (replacing an entry of the same name)."""
    MODELS[spec.name] = spec
    return spec


def get(name: "str | ModelSpec") -> ModelSpec:
    """The registered model `name` (a spec given is returned as it is: a training resolves its spec once and
    passes it on); an error listing the registered ones."""
    if isinstance(name, ModelSpec):
        return name
    try:
        return MODELS[name]
    except KeyError:
        raise UserError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None


def trained(name: str) -> tuple[ModelSpec, int | None]:
    """The spec and extra seed of a training's name: a registered model ("cnn_tuned": seed None) or one of its
    extra-seed trainings ("cnn_tuned-seed43": seed 43, trained in models/<name>); an error for any other name."""
    base, _, seed = name.rpartition("-seed")
    if base in MODELS and seed.isdigit():
        return MODELS[base], int(seed)
    return get(name), None


def label(name: str) -> str:
    """How tables name training `name`: its registry label (with its seed for an extra-seed training), or the
    name itself for a model outside the registry."""
    if name in MODELS:
        return MODELS[name].label
    try:
        spec, seed = trained(name)
    except UserError:
        return name
    return f"{spec.label} (seed {seed})"


def _builder(function: str, **kwargs) -> Callable:
    """A builder that imports the models module (and with it Keras) only when a model is built."""

    def build(seed: int | None = None, **given):
        from . import models

        return getattr(models, function)(seed=seed, **kwargs, **given)

    build.__qualname__ = f"{function}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    return build


for _spec in (
    ModelSpec("cnn", "CNN, augmentation", _builder("build_cnn", augment=True), "epochs_cnn", "02_cnn_training"),
    ModelSpec("cnn_noaug", "CNN, no augmentation", _builder("build_cnn", augment=False), "epochs_cnn_noaug",
              "03_augmentation_ablation"),
    ModelSpec("cnn_keras2", "CNN, Keras 2 augmentation", _builder("build_cnn", keras2=True), "epochs_cnn_keras2",
              "03_augmentation_ablation", optional=True),
    ModelSpec("dnn", "DNN", _builder("build_dnn"), "epochs_dnn", "04_dnn"),
    ModelSpec("dnn_aug", "DNN, augmentation", _builder("build_dnn", augment=True), "epochs_dnn", "04_dnn"),
    ModelSpec("dlsvm_svm", "DLSVM, L2-SVM head", _builder("build_dlsvm", head="svm"), "epochs_dlsvm", "08_dlsvm",
              preprocessing="tang", views=CROP_VIEWS, scores=True),
    ModelSpec("dlsvm_softmax", "DLSVM, softmax head", _builder("build_dlsvm", head="softmax"), "epochs_dlsvm",
              "08_dlsvm", preprocessing="tang", views=CROP_VIEWS),
    ModelSpec("cnn_tuned", "CNN, tuned recipe", _builder("build_cnn_tuned"), "epochs_cnn_tuned",
              "09_beyond_the_report", schedule_steps=True),
    ModelSpec("cnn_erasing", "CNN, tuned + erasing, smoothing",
              _builder("build_cnn_erasing"), "epochs_cnn_erasing",
              "09_beyond_the_report", schedule_steps=True, optional=True),
    ModelSpec("cnn_distilled", "CNN, distilled from the ensemble", _builder("build_cnn_distilled"),
              "epochs_cnn_distilled", "09_beyond_the_report", schedule_steps=True, optional=True, student=True),
):
    register(_spec)
