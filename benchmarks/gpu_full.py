"""The full profile's trainings on one GPU, packed to bring back, and unpacked into runs/full/ here.

On the GPU machine (Keras' JAX backend; see `benchmarks/gpu_full.sh` for the whole command):

    KERAS_BACKEND=jax python benchmarks/gpu_full.py train --group 1 --data DIR --out $OUT

trains the group's models at once, one training process each on the same GPU (`python -m fer_utils.train`, so
each epoch is checkpointed and each model evaluated as everywhere else), prints the time and images/s per model,
and packs what the notebooks need of each training (config, history, results, best model; the preprocessing
statistics) into `$OUT/trainings-<group>.tar.partNN`, parts of at most 15 MiB. Back here:

    python benchmarks/gpu_full.py unpack DIR... [--data PATH]

puts the trainings into runs/full/models/, after checking that they were trained on the same faces as the
local data (the preprocessing statistics' fingerprint), and points them at the local copy, so that
`fer-report run --profile full` loads them instead of training again. Rehearse on a CPU with `--profile smoke`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fer_utils import atomic, data, paths, profiles, registry, results  # noqa: E402
from fer_utils.history import read_history  # noqa: E402

# Two groups, one device command each: the conv nets of the report and the tuned recipe; the DNN and DLSVM.
GROUPS = {"1": ("cnn", "cnn_noaug", "cnn_tuned"), "2": ("dnn", "dlsvm_svm", "dlsvm_softmax")}
PART_BYTES = 15 * 2 ** 20
KEPT = ("config.json", "history.csv", results.RESULTS_FILE)  # beside the best model, per training


def train(args) -> int:
    names = [n for g in (GROUPS if args.group == "all" else [args.group]) for n in GROUPS[g]]
    run_dir = profiles.run_folder(args.profile, args.run_dir)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    for kind in {registry.get(n).preprocessing for n in names}:  # fit the statistics once, before the trainings
        subprocess.run([sys.executable, "-c", "import sys; from fer_utils import data, preprocess; "
                        "fer = data.load_fer2013(sys.argv[1]); preprocess.prepared(fer, sys.argv[2], sys.argv[3])",
                        profiles.resolve_data(args.data), kind, str(run_dir)], env=env, check=True)
    start = time.perf_counter()
    print(f"gpu_full: profile {args.profile}, models {', '.join(names)}, run folder {run_dir}", flush=True)
    logs = paths.RunPaths(run_dir).root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    running = {}
    for name in names:
        log = open(logs / f"{name}.log", "w")
        command = [sys.executable, "-m", "fer_utils.train", name, "--profile", args.profile, "--run-dir",
                   str(run_dir), "--data", profiles.resolve_data(args.data)]
        running[name] = (subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT), log)
    failed = []
    for name, (process, log) in running.items():
        if process.wait():
            failed.append(name)
        log.close()
        print(f"gpu_full: {name} finished after {time.perf_counter() - start:.0f} s (exit {process.returncode})",
              flush=True)
        if process.returncode:
            print("".join((logs / f"{name}.log").read_text().splitlines(keepends=True)[-15:]), flush=True)
    table = summary(run_dir, [n for n in names if n not in failed])
    print(table.to_string(index=False), flush=True)
    table.to_csv(logs / f"summary-{args.group}.csv", index=False)
    parts = pack(run_dir, [n for n in names if n not in failed], out / f"trainings-{args.group}.tar")
    print(f"gpu_full: {time.perf_counter() - start:.0f} s in all; packed {len(parts)} part(s) into {out}"
          + (f"; FAILED: {', '.join(failed)} (see their logs)" if failed else ""), flush=True)
    return 1 if failed else 0


def summary(run_dir: Path, names: list[str]) -> pd.DataFrame:
    """Per model: epochs, training time, images/s, best epoch, val and test accuracy (plain, flip-averaged, with
    the views chosen on val)."""
    rows = []
    for name in names:
        folder = paths.RunPaths(run_dir).model(name)
        history, record = read_history(folder), json.loads((folder / results.RESULTS_FILE).read_text())
        n_train = json.loads((folder / "config.json").read_text())["n_train"]
        seconds = float(history["seconds"].sum())
        rows.append({"model": name, "epochs": len(history), "training s": round(seconds),
                     "images/s": round(n_train * len(history) / seconds), "best epoch": record["best_epoch"],
                     "val": round(record["val"]["accuracy"], 4), "test": round(record["test"]["accuracy"], 4),
                     "test flip": round(record["test"]["flip_accuracy"], 4), "views": record["test"]["views"],
                     "test views": round(record["test"]["views_accuracy"], 4)})
    return pd.DataFrame(rows)


def pack(run_dir: Path, names: list[str], target: Path) -> list[Path]:
    """A tar of models/<name>/{config, history, results, best model}, the statistics and the logs, in
    PART_BYTES parts."""
    run = paths.RunPaths(run_dir)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(run.root / "logs", arcname="logs")
        for kind in ("report", "tang"):
            if run.statistics(kind).exists():
                tar.add(run.statistics(kind), arcname=run.statistics(kind).name)
        for name in names:
            folder = run.model(name)
            best = sorted(folder.glob("best-epoch*.keras"))
            for file in [*(folder / k for k in KEPT), *best[-1:]]:
                tar.add(file, arcname=f"{name}/{file.name}")
    blob, parts = buffer.getvalue(), []
    target.parent.mkdir(parents=True, exist_ok=True)
    for i in range(0, len(blob), PART_BYTES):
        part = target.with_name(f"{target.name}.part{i // PART_BYTES:02d}")
        part.write_bytes(blob[i:i + PART_BYTES])
        parts.append(part)
    return parts


def unpack(args) -> int:
    from fer_utils import preprocess, train as training

    parts = sorted(p for folder in args.folders for p in Path(folder).glob("trainings-*.tar.part*"))
    if not parts:
        print(f"gpu_full: no trainings-*.tar.partNN in {', '.join(args.folders)}", file=sys.stderr)
        return 1
    params = profiles.load_profile(args.profile)
    fer = data.limit(data.load_fer2013(profiles.resolve_data(args.data)), params["train_limit"],
                     params["eval_limit"], params["seed"])
    faces = preprocess.fingerprint(fer.train.images)
    run = paths.RunPaths(profiles.run_folder(args.profile, args.run_dir))
    run.models.mkdir(parents=True, exist_ok=True)
    for group in sorted({p.name.split(".tar")[0] for p in parts}):
        blob = b"".join(p.read_bytes() for p in parts if p.name.startswith(f"{group}.tar."))
        with tempfile.TemporaryDirectory(dir=run.models) as tmp, tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            tar.extractall(tmp, filter="data")
            unpacked = Path(tmp)
            for kind, cls in preprocess.KINDS.items():
                stats = unpacked / run.statistics(kind).name
                if stats.exists() and cls.load(stats).fitted_on != faces:
                    print(f"gpu_full: {group}: {stats.name} was fitted on other training faces than "
                          f"{fer.source}; nothing unpacked", file=sys.stderr)
                    return 1
            for log in sorted((unpacked / "logs").glob("*")):
                (run.root / "logs").mkdir(exist_ok=True)
                os.replace(log, run.root / "logs" / log.name)
            for item in sorted(p for p in unpacked.iterdir() if p.name != "logs"):
                target, is_training = run.models / item.name, item.is_dir()
                if is_training and target.exists():
                    aside = target.with_name(f"{target.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
                    os.replace(target, aside)
                    print(f"gpu_full: moved the earlier {target.name} to {aside.name}")
                os.replace(item, target)
                if is_training:  # the training's data, as this machine names the same faces
                    settings = json.loads((target / "config.json").read_text())
                    settings["data"] = str(fer.source)
                    atomic.write_json(target / "config.json", settings)
                    history = training.read_history(target)
                    print(f"gpu_full: {item.name}: {len(history)} epochs, best epoch "
                          f"{training.best_epoch_of(history)} -> {paths.shown_path(target)}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train", help="train a group of the profile's models at once and pack them")
    t.add_argument("--group", choices=[*GROUPS, "all"], default="all")
    t.add_argument("--out", required=True, help="where the logs, the summary and the packed parts go")
    u = commands.add_parser("unpack", help="put packed trainings into the run folder here")
    u.add_argument("folders", nargs="+", help="folders holding trainings-*.tar.partNN")
    for command in (t, u):
        command.add_argument("--profile", default="full")
        command.add_argument("--data", help="FER2013 file or folder (default: $FER2013_DATA, then data/)")
        command.add_argument("--run-dir", help="the run folder (default: runs/<profile>)")
    args = parser.parse_args(argv)
    try:
        return train(args) if args.command == "train" else unpack(args)
    except (FileNotFoundError, data.DataError, profiles.ProfileError) as e:
        print(f"gpu_full: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
