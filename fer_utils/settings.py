"""How training computes, declared once: each compute setting with its default, the values it takes and what it
does. A profile (params/*.yaml) overrides any of them (`mixed_precision` also per model, as
`mixed_precision_<model>`); the notebooks and the training CLI hand a training `resolve(profile, model)`, and the
training engine reads them from there. Adding a setting is one `Setting` here, its use in the engine, and a key in
the profiles that change it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Setting:
    """One compute setting: its name (the profile key), default, the values it takes (in words, for errors and
    docs) and a check of a value, and what it does."""

    name: str
    default: object
    values: str
    valid: Callable[[object], bool]
    meaning: str


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


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


def is_setting(key: str) -> bool:
    """Whether a profile key is a compute setting (or a per-model one)."""
    return key in COMPUTE or any(key.startswith(f"{name}_") for name in PER_MODEL)


def resolve(values: dict, model: str | None = None, where: str = "compute settings", strict: bool = False
            ) -> dict:
    """Every compute setting of a training of `model`: its per-model value in `values` where there is one, else
    `values`' value, else the default. A value the setting does not take is a ValueError naming `where`, the key
    and the values expected; with `strict`, so is a key of `values` that is no setting."""
    if strict:
        unknown = sorted(k for k in values if k not in COMPUTE)
        if unknown:
            raise ValueError(f"{where}: {', '.join(unknown)} is not a compute setting (settings: "
                             f"{', '.join(COMPUTE)})")
    resolved = {}
    for name, setting in COMPUTE.items():
        key = f"{name}_{model}" if name in PER_MODEL and f"{name}_{model}" in values else name
        value = values.get(key, setting.default)
        if not setting.valid(value):
            raise ValueError(f"{where}: {key} must be {setting.values}, got {value!r}")
        resolved[name] = value
    return resolved
