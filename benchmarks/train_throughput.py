"""Training images per second of the report's CNN as the project trains it (augmentation as Keras layers
inside the model, `model.fit` on in-memory arrays), in float32 and in bfloat16 mixed precision, against
  (a) a bare `model.fit` of the same CNN without augmentation, and
  (b) the same CNN fed by a per-image scipy augmentation generator in the style of the 2017
      ImageDataGenerator (rotation, flip, shift and zoom drawn and applied face by face in Python).

    python benchmarks/train_throughput.py [--images 3840] [--batch-size 128] [--repeats 3]

Prints each variant's best images/s over --repeats interleaved runs (the least disturbed run: on a shared
machine the rate jumps between levels whatever the model, so medians of few runs mislead) and the ratios,
all from one run. Two more columns re-measure the project's choice of kernels on this machine: oneDNN on and
off (TF_ENABLE_ONEDNN_OPTS=1 / 0, each in a fresh process, since TensorFlow reads it when it is imported) and
XLA on (`jit_compile=True`, on the bare CNN: Keras' augmentation layers do not compile under XLA) beside the
project's default of off on a CPU. The header names the CPU and whether
it has AVX-512.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer_utils import models, runtime  # noqa: E402
from fer_utils.models import keras  # noqa: E402


def random_affine(rng: np.random.Generator, side: int) -> tuple[np.ndarray, np.ndarray]:
    """One draw of the report's augmentation as an output-to-input matrix and offset for ndimage."""
    angle = np.deg2rad(rng.uniform(-30, 30))
    zoom = rng.uniform(0.8, 1.2)
    shift = rng.uniform(-0.1, 0.1, size=2) * side
    flip = -1.0 if rng.random() < 0.5 else 1.0
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = rotation @ np.diag([zoom, zoom * flip])
    centre = np.array([side - 1, side - 1]) / 2
    offset = centre - matrix @ centre + shift
    return matrix, offset


class NumpyAugmentFeed(keras.utils.PyDataset):
    """Batches augmented face by face with scipy.ndimage, as ImageDataGenerator.flow did."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int = 0):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self) -> int:
        return len(self.x) // self.batch_size

    def __getitem__(self, index: int):
        idx = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        batch = np.empty_like(self.x[idx])
        for k, i in enumerate(idx):
            matrix, offset = random_affine(self.rng, self.x.shape[1])
            batch[k, :, :, 0] = ndimage.affine_transform(self.x[i, :, :, 0], matrix, offset, order=1, mode="nearest")
        return batch, self.y[idx]


def images_per_second(fit, n_images: int) -> float:
    start = time.perf_counter()
    fit()
    return n_images / (time.perf_counter() - start)


def cpu_flags() -> str:
    """The CPU's model name and its AVX-512 flags (or "AVX2 only" / "no AVX2"), from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "CPU flags unknown"
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    wide = sorted(f for f in flags if f.startswith("avx512"))
    return f"{name}; {' '.join(wide) if wide else 'AVX2 only, no AVX-512' if 'avx2' in flags else 'no AVX2'}"


def project_rates(x, y, batch_size: int, repeats: int) -> list[float]:
    """images/s of the project's CNN (augmentation in the graph, float32), one warm-up then `repeats` runs."""
    model = models.build_cnn(augment=True)

    def fit():
        model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)

    fit()
    return [images_per_second(fit, len(x)) for _ in range(repeats)]


def onednn_rates(args, setting: str) -> list[float]:
    """project_rates in a fresh process with TF_ENABLE_ONEDNN_OPTS=`setting`."""
    command = [sys.executable, __file__, "--images", str(args.images), "--batch-size", str(args.batch_size),
               "--repeats", str(args.repeats), "--project-only"]
    out = subprocess.run(command, env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": setting, "TF_CPP_MIN_LOG_LEVEL": "3"},
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1920, help="training images per timed run")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--project-only", action="store_true",
                        help="time the project's CNN alone and print its rates as JSON (the oneDNN columns)")
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = args.images - args.images % args.batch_size
    x = rng.uniform(-1, 1, (n, 48, 48, 1)).astype("float32")
    y = rng.integers(0, 7, n)
    if args.project_only:
        print(json.dumps(project_rates(x, y, args.batch_size, args.repeats)))
        return
    project, bare, fed = models.build_cnn(augment=True), models.build_cnn(augment=False), models.build_cnn(False)
    xla = models.build_cnn(augment=False)  # Keras' augmentation layers cannot be compiled by XLA: the bare CNN
    xla.jit_compile = True
    with runtime.compute_scope("bfloat16"):
        project_bf16 = models.build_cnn(augment=True)
    bf16 = "project, bfloat16 (native)"
    fits = {
        "project: augmentation in the graph": lambda: project.fit(x, y, batch_size=args.batch_size, epochs=1,
                                                                  shuffle=True, verbose=0),
        bf16: lambda: project_bf16.fit(x, y, batch_size=args.batch_size, epochs=1, shuffle=True, verbose=0),
        "(a) bare fit, XLA (jit_compile=True)": lambda: xla.fit(x, y, batch_size=args.batch_size, epochs=1,
                                                                shuffle=True, verbose=0),
        "(a) bare fit, no augmentation": lambda: bare.fit(x, y, batch_size=args.batch_size, epochs=1, shuffle=True,
                                                          verbose=0),
        "(b) per-image scipy feed": lambda: fed.fit(NumpyAugmentFeed(x, y, args.batch_size), epochs=1, verbose=0),
    }
    if not runtime.native_bfloat16():  # emulated bfloat16 runs at a few images/s: nothing to compare
        print("bfloat16: skipped, this CPU does not compute it natively (no AVX-512 BF16 / AMX)")
        del fits[bf16]
    for fit in fits.values():  # warm-up: trace and compile each step once
        fit()
    rates = {name: [] for name in fits}
    for _ in range(args.repeats):
        for name, fit in fits.items():
            rates[name].append(images_per_second(fit, n))
    if keras.backend.backend() == "tensorflow":
        for setting in ("1", "0"):
            rates[f"project, oneDNN {'on' if setting == '1' else 'off'} (own process)"] = onednn_rates(args, setting)
    best = {name: max(r) for name, r in rates.items()}
    print(f"{cpu_flags()}; {os.cpu_count()} cores; TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}")
    print(f"Keras {keras.__version__} ({keras.backend.backend()}), {n} images per run, batch {args.batch_size}, "
          f"best of {args.repeats} interleaved runs")
    for name, rate in best.items():
        print(f"  {name:<40}{rate:8.0f} images/s   (median {statistics.median(rates[name]):.0f}; runs: "
              f"{', '.join(f'{r:.0f}' for r in rates[name])})")
    ours = best["project: augmentation in the graph"]
    if bf16 in best:
        print(f"bfloat16 / float32:    {best[bf16] / ours:.2f}x")
    bare_rate = best["(a) bare fit, no augmentation"]
    print(f"XLA / no XLA (bare):   {best['(a) bare fit, XLA (jit_compile=True)'] / bare_rate:.2f}x")
    on, off = best.get("project, oneDNN on (own process)"), best.get("project, oneDNN off (own process)")
    if on and off:
        print(f"oneDNN on / off:       {on / off:.2f}x")
    print(f"project / bare fit:    {ours / bare_rate:.2f}x")
    print(f"project / scipy feed:  {ours / best['(b) per-image scipy feed']:.2f}x")


if __name__ == "__main__":
    main()
