"""A profile's settings, declared once: the compute settings (how training computes), each with its default, the
values it takes and what it does, and the keys every profile must give (seed, limits, the notebooks' budgets, each
model's epochs). A profile (params/*.yaml) overrides any compute setting (`mixed_precision` also per model, as
`mixed_precision_<model>`); the notebooks and the training CLI hand a training `resolve(profile, model)`, and the
training engine reads them from there; `check_profile` checks a whole profile before anything runs. Adding a
setting is one `Setting` here, its use in the engine, and a key in the profiles that change it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .errors import UserError


@dataclass(frozen=True)
class Setting:
    """One compute setting: its name (the profile key), default, the values it takes (in words, for errors and
    docs) and a check of a value, and what it does."""

    name: str
    default: object
    values: str
    valid: Callable[[object], bool]
    meaning: str


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value) -> bool:
    return _integer(value) and value >= 1


def _count(value) -> bool:
    return _integer(value) and value >= 0


COMPUTE = {s.name: s for s in (
    Setting("batch_size", 128, "a positive integer", _positive_int,
            "faces per training step (part of a training's identity: another batch size trains afresh)"),
    Setting("mixed_precision", False, "false, true, 'float16', 'bfloat16' or 'auto'",
            lambda v: isinstance(v, bool) or v in ("float16", "bfloat16", "auto"),
            "float16 (GPUs) or bfloat16 (GPUs, CPUs with AVX-512 BF16) compute with float32 weights; 'auto' is "
            "bfloat16 where the device computes it natively, float32 elsewhere"),
    Setting("jit_compile", "auto", "true, false or 'auto'", lambda v: isinstance(v, bool) or v == "auto",
            "XLA compilation of the training step; 'auto' is off under TensorFlow on a CPU, on under JAX"),
    Setting("distribute", "none", "'none' or 'data_parallel'", lambda v: v in ("none", "data_parallel"),
            "each batch split over every device of the backend"),
    Setting("steps_per_execution", 1, "a positive integer", _positive_int,
            "batches run per call into the device: more saves a GPU's per-step overhead; the history is the same"),
)}
PER_MODEL = ("mixed_precision",)  # settings a profile may also give for one model, as <name>_<model>
REQUIRED = object()  # the default of a key every profile must give

PARAMETERS = {s.name: s for s in (
    Setting("seed", REQUIRED, "0 or a positive integer", _count, "the seed of every random draw"),
    Setting("train_limit", REQUIRED, "0 or a positive integer", _count,
            "training faces kept (stratified); 0 keeps all"),
    Setting("eval_limit", REQUIRED, "0 or a positive integer", _count, "val and test faces kept each; 0 keeps all"),
    Setting("faces_per_class", REQUIRED, "a positive integer", _positive_int, "sample faces per class (notebook 01)"),
    Setting("smoothgrad_samples", REQUIRED, "a positive integer", _positive_int,
            "noisy copies averaged per face (notebook 06)"),
    Setting("average_faces", REQUIRED, "a positive integer", _positive_int,
            "faces per class in the class saliency maps (notebook 06)"),
    Setting("ascent_steps", REQUIRED, "a positive integer", _positive_int,
            "gradient-ascent steps per filter (notebook 07)"),
    Setting("sample_faces", REQUIRED, "a positive integer", _positive_int,
            "training faces searched for each filter's strongest responses (notebook 07)"),
    Setting("dlsvm_seeds", REQUIRED, "a positive integer", _positive_int,
            "seeds each DLSVM head is trained with: the profile's seed and the next ones (notebook 08)"),
    Setting("tuned_seeds", REQUIRED, "a positive integer", _positive_int,
            "seeds the tuned CNN is trained with, each an ensemble member: the profile's seed and the next ones "
            "(notebook 09)"),
)}


def is_setting(key: str) -> bool:
    """Whether a profile key is a compute setting (or a per-model one, naming a model of the registry)."""
    from . import registry

    return key in COMPUTE or any(key.startswith(f"{name}_") and key[len(name) + 1:] in registry.MODELS
                                 for name in PER_MODEL)


def resolve(values: dict, model: str | None = None, where: str = "compute settings", strict: bool = False
            ) -> dict:
    """Every compute setting of a training of `model`: its per-model value in `values` where there is one, else
    `values`' value, else the default. A value the setting does not take is a ValueError naming `where`, the key
    and the values expected; with `strict`, so is a key of `values` that is no setting."""
    if strict:
        unknown = sorted(k for k in values if k not in COMPUTE)
        if unknown:
            raise UserError(f"{where}: {', '.join(unknown)} is not a compute setting (settings: "
                             f"{', '.join(COMPUTE)})")
    resolved = {}
    for name, setting in COMPUTE.items():
        key = f"{name}_{model}" if name in PER_MODEL and f"{name}_{model}" in values else name
        value = values.get(key, setting.default)
        if not setting.valid(value):
            raise UserError(f"{where}: {key} must be {setting.values}, got {value!r}")
        resolved[name] = value
    return resolved


def epochs_settings() -> dict[str, Setting]:
    """The epochs key of each registry model (models sharing a key share it), every one required."""
    from . import registry

    keys, optional = {}, set()
    for spec in registry.MODELS.values():
        keys.setdefault(spec.epochs_key, []).append(spec.label)
        if spec.optional:
            optional.add(spec.epochs_key)
    return {key: Setting(key, REQUIRED, "0 (left out) or a positive integer", _count, f"epochs of {'; '.join(labels)}")
            if key in optional else
            Setting(key, REQUIRED, "a positive integer", _positive_int, f"epochs of {'; '.join(labels)}")
            for key, labels in keys.items()}


def is_declared(key: str) -> bool:
    """Whether a profile key is declared here (a compute setting, a required parameter or an epochs key)."""
    return is_setting(key) or key in PARAMETERS or key in epochs_settings()


def check_profile(params: dict, where: str) -> None:
    """A ValueError, one line naming `where`, the key and what was expected, unless every key a notebook or a
    training needs is in `params` and takes a declared value, and every compute setting given (per model too)
    takes one of its values."""
    from . import registry

    for key in params:
        for name in PER_MODEL:
            if key.startswith(f"{name}_") and key[len(name) + 1:] not in registry.MODELS:
                raise UserError(f"{where}: {key} names no model ({name}_<model>, a model of: "
                                 f"{', '.join(registry.MODELS)})")
    for name, setting in {**PARAMETERS, **epochs_settings()}.items():
        if name not in params:
            raise UserError(f"{where}: {name} is missing (expected {setting.values}: {setting.meaning})")
        if not setting.valid(params[name]):
            raise UserError(f"{where}: {name} must be {setting.values}, got {params[name]!r}")
    for model in [None, *registry.MODELS]:
        resolve(params, model, where=where)
