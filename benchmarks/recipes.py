"""The tuned recipe's changes measured at a short budget: the report's CNN (same layers, 1,703,623 parameters)
trained for --epochs under the tuned recipe and under variants that change one thing each, on the full data,
with the project's training engine. The best epoch is chosen on val (PublicTest) only; test (PrivateTest)
is reported for that epoch.

    python benchmarks/recipes.py [--epochs 20] [--variants base,float32,...] [--data PATH] [--out runs/recipes]

Each variant trains (or resumes, or loads) in <out>/models/<variant>; the table goes to <out>/recipes.csv and
is printed. Variants: see VARIANTS.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer_utils import data, models, paths, preprocess, profiles, registry, results, runtime, train  # noqa: E402
# name -> (what changes against the tuned recipe, build_cnn_tuned overrides, mixed precision)
VARIANTS = {
    "base": ("the tuned recipe: AdamW 2e-3, 5% warm-up, cosine to 0, weight decay 1e-4, mirroring and shifts "
             "within 10%, bfloat16", {}, "bfloat16"),
    "rotation_zoom": ("the first tuned recipe's augmentation (adds rotation 10°, zoom 10%)",
                      {"rotation": 10, "zoom": 0.1}, "bfloat16"),
    "float32": ("float32 instead of bfloat16", {}, False),
    "report_augmentation": ("the report's augmentation strength (rotation 30°, zoom 20%)",
                            {"rotation": 30, "zoom": 0.2}, "bfloat16"),
    "no_augmentation": ("no augmentation", {"augment": False}, "bfloat16"),
    "weight_decay_5e-4": ("weight decay 5e-4", {"weight_decay": 5e-4}, "bfloat16"),
    "no_weight_decay": ("no weight decay", {"weight_decay": 0.0}, "bfloat16"),
    "peak_4e-3": ("peak rate 4e-3", {"peak_rate": 4e-3}, "bfloat16"),
    "peak_1e-3": ("peak rate 1e-3", {"peak_rate": 1e-3}, "bfloat16"),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--variants", default="base,float32,report_augmentation,no_augmentation,weight_decay_5e-4")
    parser.add_argument("--data", help="FER2013 file or folder (default: $FER2013_DATA, then data/)")
    parser.add_argument("--out", default=str(paths.RUNS_DIR / "recipes"))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    runtime.setup_logging("%(asctime)s %(message)s")
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
    fer = data.load_fer2013(profiles.resolve_data(args.data))
    x = preprocess.prepared(fer, "report", args.out)
    rows = []
    for name in names:
        change, overrides, precision = VARIANTS[name]
        registry.register(registry.ModelSpec(name, change, functools.partial(models.build_cnn_tuned, **overrides),
                                             "epochs", "benchmarks/recipes.py", schedule_steps=True))
        runtime.seed_everything(args.seed)
        trained, record = train.train_and_evaluate(
            name, fer, x, args.out, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, train_limit=0,
            eval_limit=0, mixed_precision=precision)
        best = trained.history.set_index("epoch").loc[record["best_epoch"]]
        rows.append({"variant": name, "change": change, "epochs": record["epochs"], "best epoch": record["best_epoch"],
                     "train accuracy at best": best["accuracy"], "val accuracy": record["val"]["accuracy"],
                     "val accuracy, flip-averaged": record["val"]["flip_accuracy"],
                     "test accuracy": record["test"]["accuracy"],
                     "test accuracy, flip-averaged": record["test"]["flip_accuracy"],
                     "seconds per epoch": trained.history["seconds"].mean()})
        table = pd.DataFrame(rows).set_index("variant")
        table.to_csv(Path(args.out) / "recipes.csv")
        print(table.drop(columns="change").round(4).to_string(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
