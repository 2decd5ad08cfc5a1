"""How long trainings take on this machine: each model's training step and inference timed on a few batches here
(remembered per machine in the user's cache folder, wherever the decoded data is cached), scaled by a training's
epochs and faces into an expected time."""

from __future__ import annotations

import json
import os
import platform
import time

import numpy as np

from . import atomic, registry, runtime, user_cache_dir
from .labels import IMAGE_SIDE
from .settings import resolve

SPEED_FILE = "speed.json"  # in user_cache_dir()
TIMED_BATCHES = 2  # batches timed beyond one (after an untimed batch that traces the step)


def machine() -> str:
    """What a speed depends on besides the model: Keras backend and devices, CPU, cores, versions, oneDNN."""
    runtime.import_keras_quietly()
    import keras

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = runtime.versions()
    return (f"{keras.backend.backend()} on {', '.join(runtime.devices())}; {cpu}, {os.cpu_count()} cores; keras "
            f"{versions.get('keras')}, tensorflow {versions.get('tensorflow')}, jax {versions.get('jax')}; "
            f"oneDNN {os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default')}")


def images_per_second(name: str, batch_size: int, precision=False, cache=None) -> dict[str, float]:
    """Faces per second that model `name` trains on (batch `batch_size`, `precision` as a profile declares it) and
    predicts, on this machine: measured once on random faces, then read from `cache` (a JSON file; default
    SPEED_FILE in the user's cache folder)."""
    cache = cache or user_cache_dir() / SPEED_FILE
    key = f"{network(name)}, batch {batch_size}, precision {runtime.resolved_precision(precision) or 'float32'}"
    where = machine()
    known = _read(cache)
    if key in known.get(where, {}):
        return known[where][key]
    measured = _measure(name, batch_size, precision)
    known = _read(cache)  # another process may have written meanwhile
    known.setdefault(where, {})[key] = measured
    try:
        atomic.write_json(cache, known)
    except OSError:  # a read-only checkout: measured again next time
        pass
    return measured


def network(name: str) -> str:
    """The builder function of model `name`: models built by the same one (the CNN with and without its
    augmentation layers, both DLSVM heads) train at about the same speed, so they are timed once."""
    return registry.get(name).build.__qualname__.split("(")[0]


def _read(cache) -> dict:
    try:
        return json.loads(open(cache).read())
    except (OSError, ValueError):
        return {}


def _measure(name: str, batch_size: int, precision) -> dict[str, float]:
    spec = registry.get(name)
    with runtime.compute_scope(precision):
        model = spec.build(0, **({"total_steps": 1000} if spec.schedule_steps else {}))
    runtime.set_jit_compile(model)
    rng = np.random.default_rng(0)
    n = batch_size * (TIMED_BATCHES + 1)
    x = rng.uniform(-1, 1, (n, IMAGE_SIDE, IMAGE_SIDE, 1)).astype(np.float32)
    y = rng.integers(0, 7, n)

    def timed(call, count: int) -> float:
        start = time.perf_counter()
        call(x[:count], y[:count])
        return time.perf_counter() - start

    def fit(images, labels):
        model.fit(images, labels, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)

    def predict(images, labels):
        model.predict(images, batch_size=batch_size, verbose=0)

    rates = {}
    for kind, call in (("train", fit), ("predict", predict)):
        call(x[:batch_size], y[:batch_size])  # traces the step
        # the time of TIMED_BATCHES more batches: what a call costs whatever its size (callbacks, set-up) cancels
        extra = timed(call, n) - timed(call, batch_size)
        rates[kind] = round(batch_size * TIMED_BATCHES / max(extra, 1e-6), 1)
    return rates


def training_seconds(name: str, *, epochs: int, n_train: int, n_val: int, batch_size: int, precision=False,
                     done: int = 0) -> float:
    """The expected time of epochs `done`+1..`epochs` of model `name` on `n_train` faces, validated on `n_val`."""
    rate = images_per_second(name, batch_size, precision)
    return max(0, epochs - done) * (n_train / rate["train"] + n_val / rate["predict"])


def about(seconds: float) -> str:
    """A rough duration: "under a minute", "about 12 min", "about 2.5 h", "about 11 h"."""
    if seconds < 60:
        return "under a minute"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h" if seconds < 10 * 3600 else f"about {round(seconds / 3600)} h"


def profile_seconds(params: dict, n_train: int, n_val: int, done: dict[str, int] | None = None) -> dict[str, float]:
    """The expected time of each training of profile `params` on this machine, on `n_train` training and `n_val`
    val faces: every registry model from scratch, or the models of `done` from the epochs they have done."""
    return {name: training_seconds(name, epochs=params[registry.get(name).epochs_key], n_train=n_train, n_val=n_val,
                                   batch_size=compute["batch_size"], precision=compute["mixed_precision"], done=epochs)
            for name, epochs in (done or dict.fromkeys(registry.MODELS, 0)).items()
            for compute in [resolve(params, name)]}
