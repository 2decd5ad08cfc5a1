"""A trained model's results, in one schema from training to the README: written once per training as
models/<name>/results.json, read unchanged by the notebooks, the HTML report and `fer-report publish`; one table
builder for all of them, with the literature's numbers (the anchors) the report measures itself against."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from . import atomic, evaluation, registry, uncertainty, views
from .paths import RunPaths
from .errors import UserError

RESULTS_FILE = "results.json"  # in a model's training folder, and (all models of a run) in its report
OUTPUTS_FILE = "outputs.npz"  # in a model's training folder: its val and test outputs with the chosen views
VIEWS_COLUMN = "test views, chosen on val"
SELECTED_COLUMN = "selected on"  # what chose the model's epoch (and views, weights): val, or how an anchor was

# The literature's FER2013 accuracies (PrivateTest): the anchors of the report's tables and sentences, each with
# how its model was selected, as far as its source says.
PUBLISHED = "as published"
ANCHORS = {
    "tang": ("DLSVM, Tang 2013 (challenge winner)", 0.7116, "the public leaderboard; PrivateTest hidden"),
    "report_dlsvm": ("DLSVM as the report tuned it (about)", 0.65, PUBLISHED),
    "mini_xception": ("mini-XCEPTION, `fer` package (about)", 0.66, PUBLISHED),
    "human": ("human accuracy, Goodfellow et al. 2013 (about)", 0.65, "no model: raters"),
    "pramerdorfer": ("10-layer VGG, Pramerdorfer and Kampel 2016", 0.727, PUBLISHED),
    "khaireddin": ("VGGNet, Khaireddin and Chen 2021 (about 30M parameters, 300 epochs)", 0.7328, PUBLISHED),
}
SELECTED_HERE = "val (PublicTest)"  # how this project selects every epoch, view set and ensemble weight

COUNTS = ("trainable parameters", "epochs", "best epoch")
FACES_COLUMNS = {"val": "val faces", "test": "test faces"}  # how many faces each split's accuracies are over


SINGLE_NETWORK_GOAL = 0.70  # one network of the report's CNN's size, chosen on val; an ensemble's goal is Tang's


def anchor(key: str) -> float:
    """The accuracy the literature states for ANCHORS[key]."""
    return ANCHORS[key][1]


def record(model: str | registry.ModelSpec, *, trainable_parameters: int, epochs: int, best_epoch: int, training_seconds: float,
           splits: dict[str, dict], training: dict | None = None, evaluated_in: str | None = None,
           teacher: dict | None = None) -> dict:
    """One model's results (`model`: its name or its spec): size, epochs, the best epoch on val, training time, the settings it was trained with
    as the profile declared them (`fer_utils.reference.settings`), and per split the evaluation of
    `fer_utils.evaluation.evaluate_splits` (accuracy, flip_accuracy, per_class, accuracy and log-loss per view
    set, and the views chosen on val with their accuracy); `evaluated_in` names the reference run whose
    evaluation it is, where it was taken from there rather than measured here; `teacher`, a distilled model's
    teacher (ensemble member -> weight)."""
    spec = registry.get(model)
    return {"model": spec.name, "label": spec.label, "trainable_parameters": int(trainable_parameters),
            "epochs": int(epochs), "best_epoch": int(best_epoch), "training_seconds": round(float(training_seconds), 1),
            **({"training": training} if training is not None else {}),
            **({"evaluated_in": evaluated_in} if evaluated_in else {}), **({"teacher": teacher} if teacher else {}),
            **splits}


INTERVALS = ("accuracy", "flip_accuracy", "views_accuracy")  # the accuracies of a split that carry an interval


def per_face(splits: dict[str, dict], outputs: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> dict:
    """Each split's record (`fer_utils.evaluation.evaluate_splits`) with what its outputs (averaged over the views
    chosen on val) say face by face: `faces`, which faces were right (`correct`, packed), recall per class
    (`views_per_class`), and the 95% interval of each accuracy (`intervals`). An error where the outputs do not
    give the record's accuracy (they belong to another training)."""
    done = {}
    for split, record in splits.items():
        y = np.asarray(labels[split])
        correct = outputs[split].argmax(axis=1) == y
        if abs(correct.mean() - record["views_accuracy"]) > 0.5 / len(y):
            raise UserError(f"the saved {split} outputs give {correct.mean():.2%}, not the recorded "
                             f"{record['views_accuracy']:.2%} with the chosen views: they are another training's")
        recall = evaluation.per_class_metrics(y, outputs[split].argmax(axis=1))["recall"]
        done[split] = {**record, "faces": int(len(y)), "correct": uncertainty.pack(correct),
                       "views_per_class": {c: float(v) for c, v in recall.items()},
                       "intervals": {k: list(uncertainty.accuracy_interval(record[k], len(y))) for k in INTERVALS}}
    return done


def accuracy_text(record: dict, split: str = "test", which: str = "views_accuracy") -> str:
    """One accuracy of a record's split with its 95% interval: "63.3% (61.7-64.9%)"."""
    found = record[split]
    interval = found.get("intervals", {}).get(which)
    return f"{found[which]:.1%}" + (f" ({uncertainty.interval_text(*interval)})" if interval else "")


def correct(record: dict, split: str = "test") -> np.ndarray:
    """Which faces of `split` a model's record (`per_face`) got right with its chosen views."""
    found = record.get(split, {})
    if "correct" not in found:
        raise UserError(f"the results of {record['model']} hold no per-face results on {split}: evaluate it again")
    return uncertainty.unpack(found["correct"], found["faces"])


def compare(first: dict, second: dict, split: str = "test") -> dict:
    """Two models' records on the same faces of `split` (chosen views each): the paired comparison of
    `fer_utils.uncertainty.paired` (difference = first minus second)."""
    return uncertainty.paired(correct(first, split), correct(second, split))


def write(folder: str | os.PathLike, results: dict) -> Path:
    return atomic.write_json(Path(folder) / RESULTS_FILE, results)


def write_outputs(folder: str | os.PathLike, outputs: dict[str, np.ndarray]) -> Path:
    """A model's outputs per split (N, classes), averaged over its chosen views, as models/<name>/outputs.npz."""
    with atomic.atomic_path(Path(folder) / OUTPUTS_FILE) as partial:
        with open(partial, "wb") as file:
            np.savez(file, **outputs)
    return Path(folder) / OUTPUTS_FILE


def load_outputs(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Split -> outputs, as `write_outputs` saved them."""
    with np.load(path) as saved:
        return {split: saved[split] for split in saved.files}


def evaluation_of(record: dict, outputs_path: str | os.PathLike, faces: dict[str, int], view_sets
                  ) -> tuple[dict, dict[str, np.ndarray]] | None:
    """A saved evaluation (a results record and its outputs file) as (splits, outputs), where it chose its views
    among these view sets and holds splits of these sizes (`faces`: split -> faces); None otherwise."""
    splits = {split: record.get(split, {}) for split in faces}
    chosen_among = set(splits.get("val", {}).get("view_sets", {}))
    if chosen_among != set(view_sets) or not all("views" in r for r in splits.values()):
        return None
    try:
        outputs = load_outputs(outputs_path)
    except (OSError, ValueError):
        return None
    return (splits, outputs) if {split: len(o) for split, o in outputs.items()} == faces else None


def saved_evaluation(folder: str | os.PathLike, training: dict, epochs: int, best_epoch: int, faces: dict[str, int],
                     view_sets) -> tuple[dict, dict[str, np.ndarray], str | None] | None:
    """The evaluation a training folder already holds (its results and outputs), where it is of this training
    (settings, epochs, best epoch) and matches (`evaluation_of`): (splits, outputs, the reference run it was taken
    from or None); None where it must be measured."""
    try:
        saved = json.loads((Path(folder) / RESULTS_FILE).read_text())
    except (OSError, ValueError):
        return None
    if (saved.get("training"), saved.get("epochs"), saved.get("best_epoch")) != (training, epochs, best_epoch):
        return None
    found = evaluation_of(saved, Path(folder) / OUTPUTS_FILE, faces, view_sets)
    return (*found, saved.get("evaluated_in")) if found else None


def read_outputs(run_dir: str | os.PathLike, name: str) -> dict[str, np.ndarray]:
    """The outputs of training `name` in a run (`write_outputs`; a model, or an extra-seed training as
    "cnn_tuned-seed43"); an error naming its notebook if missing."""
    path = RunPaths(Path(run_dir).expanduser().resolve()).model(name) / OUTPUTS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run notebook {registry.trained(name)[0].notebook} first with the "
                                f"same run_dir")
    return load_outputs(path)


def read(run_dir: str | os.PathLike, name: str) -> dict:
    """The results of model `name` in a run; an error naming the notebook that trains it if they are missing."""
    path = RunPaths(Path(run_dir).expanduser().resolve()).model(name) / RESULTS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run notebook {registry.get(name).notebook} first with the "
                                f"same run_dir")
    return json.loads(path.read_text())


def read_record(folder: str | os.PathLike) -> dict:
    """The results record in a training folder."""
    return json.loads((Path(folder) / RESULTS_FILE).read_text())


def collect(run_dir: str | os.PathLike, students: bool = True) -> dict[str, dict]:
    """The results of every registered model that the run has trained, in registry order; without `students`, the
    models distilled from the run's ensemble left out."""
    run = RunPaths(Path(run_dir).expanduser().resolve())
    return {name: json.loads((run.model(name) / RESULTS_FILE).read_text()) for name, spec in registry.MODELS.items()
            if (run.model(name) / RESULTS_FILE).exists() and (students or not spec.student)}


def collect_seeds(run_dir: str | os.PathLike) -> dict[str, dict[str, dict]]:
    """The results of every extra-seed training in a run (models/<name>-seed<N>): name -> seed (text) -> record."""
    run = RunPaths(Path(run_dir).expanduser().resolve())
    found: dict[str, dict[str, dict]] = {}
    for name in registry.MODELS:
        for path in sorted(run.models.glob(f"{name}-seed*/{RESULTS_FILE}")):
            seed = path.parent.name.rsplit("-seed", 1)[1]
            if seed.isdigit():
                found.setdefault(name, {})[seed] = json.loads(path.read_text())
    return found


def goals(models: dict[str, dict], seeds: dict[str, dict[str, dict]], ensemble: dict | None) -> dict:
    """Where a run stands, on test (PrivateTest) with everything chosen on val (PublicTest) alone, against its two
    goals: the ensemble against Tang's winning accuracy, and the network with as many parameters as the report's
    CNN that is most accurate on val with its chosen views (registered models and extra seeds alike) against
    SINGLE_NETWORK_GOAL. Each: the goal, val and test accuracy, whether test reaches the goal, and the points
    between; a goal the run cannot judge (no ensemble, no report's CNN, no test split) is left out."""
    def standing(goal: float, val: float, test: float, **more) -> dict:
        return {**more, "goal": goal, "val": val, "test": test, "reached": bool(test >= goal),
                "points_to_goal": round(100 * (goal - test), 2)}

    found = {}
    if ensemble and ensemble.get("test") is not None:
        found["ensemble"] = standing(anchor("tang"), ensemble["val"], ensemble["test"])
    size = models.get("cnn", {}).get("trainable_parameters")
    everyone = {**models, **{f"{n}-seed{s}": r for n, by_seed in seeds.items() for s, r in by_seed.items()}}
    same_size = {n: r for n, r in everyone.items() if r["trainable_parameters"] == size and "test" in r}
    if same_size:
        name = max(same_size, key=lambda n: same_size[n]["val"]["views_accuracy"])  # ties: the earlier
        chosen = same_size[name]
        found["single_network"] = standing(SINGLE_NETWORK_GOAL, chosen["val"]["views_accuracy"],
                                           chosen["test"]["views_accuracy"], model=name, parameters=size,
                                           views=chosen["test"]["views"], candidates=sorted(same_size))
    return found


def goals_text(standing: dict) -> str:
    """`goals`' standing in sentences: each goal, the accuracy reached on test (PrivateTest) and the points to it."""
    def verdict(goal: dict, what: str) -> str:
        gap = goal["points_to_goal"]
        reached = f"reached, {points(goal['test'] - goal['goal'])} over {what}"
        return reached if goal["reached"] else f"{gap:.1f} points short of {what}"

    sentences = []
    if "ensemble" in standing:
        e = standing["ensemble"]
        tang = f"Tang's {e['goal']:.2%}"
        sentences.append(f"The ensemble scores {e['test']:.1%} on test (PrivateTest): {verdict(e, tang)}.")
    if "single_network" in standing:
        one = standing["single_network"]
        sentences.append(
            f"Of the {len(one['candidates'])} trainings with the report's {one['parameters']:,} parameters, the most "
            f"accurate on val (PublicTest) is {registry.label(one['model'])}, {one['val']:.1%} on val; it scores "
            f"{one['test']:.1%} on test with {one['views']}: {verdict(one, format(one['goal'], '.0%'))}.")
    return " ".join(sentences)


def trainings(run_dir: str | os.PathLike, students: bool = True) -> list[str]:
    """Every training a run holds: its registered models (`collect`) and then their extra seeds, named as
    "cnn_tuned-seed43" (`fer_utils.registry.trained`)."""
    return [*collect(run_dir, students), *(f"{name}-seed{seed}" for name, by_seed in collect_seeds(run_dir).items()
                                           for seed in by_seed)]


def overfitting_onset(history: pd.DataFrame) -> int | None:
    """The epoch where val loss reaches its minimum while train loss keeps falling after it, or None when
    val loss is still at its minimum in the last epoch (no overfitting seen in this run)."""
    best = int(history["val_loss"].idxmin())
    if best == len(history) - 1 or history["loss"].iloc[-1] >= history["loss"].iloc[best]:
        return None
    return int(history["epoch"].iloc[best])


def best_so_far(histories: dict[str, pd.DataFrame], every: int = 10) -> pd.DataFrame:
    """The best val accuracy each training had reached by epoch 10, 20, ... (every `every` epochs, and the last
    epoch they all reached): one column per training, for comparing recipes at equal epochs."""
    common = min(len(h) for h in histories.values())
    epochs = sorted({*range(every, common + 1, every), common})
    return pd.DataFrame({name: [h["val_accuracy"].iloc[:e].max() for e in epochs] for name, h in histories.items()},
                        index=pd.Index(epochs, name="epoch"))


def loss_crossing(history: pd.DataFrame, lasting: int = 10) -> int | None:
    """The epoch from which training loss stays below val loss to the end, or None when it does not stay below
    for the last `lasting` epochs (not yet crossed for good)."""
    above = (history["loss"] >= history["val_loss"]).to_numpy()
    first = int(above.nonzero()[0].max()) + 1 if above.any() else 0
    return int(history["epoch"].iloc[first]) if len(history) - first >= lasting else None


def table(records, anchors=(), ensemble: dict | None = None) -> pd.DataFrame:
    """One row per model (by its label): size, epochs, best epoch, best val accuracy, test accuracy plain,
    flip-averaged and with the view set chosen on val (named), training minutes; then the `ensemble` record's
    row (`fer_utils.ensemble`: val and test accuracy of its members with their chosen views) when given; then the
    the literature's rows named in `anchors` (keys of ANCHORS, or True for all). `records` given as a dict are
    named by their keys (an extra-seed training's key, "cnn_tuned-seed43", shows its seed)."""
    named = ([(registry.label(name), r) for name, r in records.items()] if isinstance(records, dict)
             else [(r.get("label", r["model"]), r) for r in records])
    rows = []
    for label, r in named:
        val, test = r.get("val", {}), r.get("test", {})
        rows.append({"model": label, "trainable parameters": r["trainable_parameters"],
                     "epochs": r["epochs"], "best epoch": r["best_epoch"], "best val accuracy": val.get("accuracy"),
                     "test accuracy": test.get("accuracy"), "test accuracy, flip-averaged": test.get("flip_accuracy"),
                     VIEWS_COLUMN: test.get("views"), "test accuracy, chosen views": test.get("views_accuracy"),
                     "training minutes": r["training_seconds"] / 60, SELECTED_COLUMN: SELECTED_HERE, **_faces(r)})
    if ensemble:
        rows.append({"model": ensemble_label(ensemble), "best val accuracy": ensemble["val"],
                     VIEWS_COLUMN: "each member's", "test accuracy, chosen views": ensemble.get("test"),
                     SELECTED_COLUMN: SELECTED_HERE,
                     **_faces({s: {"faces": n} for s, n in ensemble.get("faces", {}).items()})})
    columns = ["model", "trainable parameters", "epochs", "best epoch", "best val accuracy", "test accuracy",
               "test accuracy, flip-averaged", VIEWS_COLUMN, "test accuracy, chosen views", "training minutes",
               SELECTED_COLUMN, *FACES_COLUMNS.values()]
    frame = pd.DataFrame(rows, columns=columns).set_index("model")
    keys = list(ANCHORS) if anchors is True else list(anchors)
    if keys:
        literature = pd.DataFrame([{"model": ANCHORS[k][0], "test accuracy": ANCHORS[k][1],
                                    SELECTED_COLUMN: ANCHORS[k][2]} for k in keys])
        frame = pd.concat([frame, literature.set_index("model").reindex(columns=frame.columns)])
    numbers = [c for c in frame.columns
               if c not in (*COUNTS, VIEWS_COLUMN, SELECTED_COLUMN, *FACES_COLUMNS.values())]
    return frame.astype({c: "Int64" for c in (*COUNTS, *FACES_COLUMNS.values())}).astype({c: float for c in numbers})


def _faces(record: dict) -> dict:
    return {column: record.get(split, {}).get("faces") for split, column in FACES_COLUMNS.items()}


def views_table(records) -> pd.DataFrame:
    """What test-time views add, one row per model (by its label): val accuracy with each view set it may use
    (blank where its registry entry allows none), the set chosen on val, and test accuracy plain, mirrored and
    with the chosen views."""
    records = list(records.values()) if isinstance(records, dict) else list(records)
    rows = []
    for r in records:
        val, test = r["val"], r.get("test", {})
        rows.append({"model": r.get("label", r["model"]),
                     **{f"val accuracy, {n}": a for n, a in val.get("view_sets", {}).items()},
                     "chosen on val": val.get("views"), "test accuracy": test.get("accuracy"),
                     "test accuracy, mirror": test.get("flip_accuracy"),
                     "test accuracy, chosen views": test.get("views_accuracy"), **_faces(r)})
    used = [f"val accuracy, {n}" for n in views.VIEW_SETS
            if any(n in r["val"].get("view_sets", {}) for r in records)]
    columns = ["model", *used, "chosen on val", "test accuracy", "test accuracy, mirror", "test accuracy, chosen views",
               *FACES_COLUMNS.values()]
    return pd.DataFrame(rows, columns=columns).set_index("model")


def calibration_table(record: dict) -> pd.DataFrame:
    """One row per calibrated training (by its label) and the ensemble (`fer_utils.calibration` records): the
    temperature fitted on val, and on each split the ECE and log-loss before and after it."""
    rows = []
    for name, r in record.items():
        row = {"model": "ensemble" if name == "ensemble" else registry.label(name),
               "temperature (fitted on val)": r["temperature"]}
        for split in ("val", "test"):
            if split in r:
                row.update({f"{split} ECE": r[split]["ece"], f"{split} ECE, calibrated": r[split]["ece_calibrated"],
                            f"{split} log-loss": r[split]["log_loss"],
                            f"{split} log-loss, calibrated": r[split]["log_loss_calibrated"]})
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def ensemble_label(record: dict) -> str:
    """How tables name an ensemble record: its members with weight and how the weights were chosen."""
    used = [registry.label(n) for n, w in record["weights"].items() if w]
    return f"ensemble of {len(used)} ({'; '.join(used)}), weights chosen on val"


def points(difference: float) -> str:
    """A difference of two accuracies in percentage points, signed: "+2.0 points"; one under 0.05 points that is
    not zero keeps two decimals ("-0.03 points"), so that a sign never stands before a plain 0.0."""
    shown = difference * 100
    return f"{shown:+.2f} points" if 0 < abs(shown) < 0.05 else f"{shown:+.1f} points"


def readable(frame: pd.DataFrame, percent=(), formats: dict | None = None) -> pd.DataFrame:
    """`frame` with every cell as a reader reads it (strings): the columns in `percent` (True: all) and any whose
    name holds "accuracy" as percentages with one decimal; a column of whole numbers with thousands separators;
    a column in `formats` with its format ("{:.2e}"); other numbers with three decimals; text as it is; and a
    blank where a value is missing or does not apply."""
    formats = formats or {}

    def shown(column: pd.Series) -> pd.Series:
        name = str(column.name)
        values = pd.to_numeric(column, errors="coerce") if column.dtype == object else column
        numbers = [v for v in values if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                   and not pd.isna(v)]
        if name in formats:
            spec = formats[name]
        elif percent is True or name in percent or "accuracy" in name:
            spec = "{:.1%}"
        elif numbers and all(float(v).is_integer() for v in numbers):
            spec = "{:,.0f}"
        else:
            spec = "{:.3f}"
        def one(original, value) -> str:
            if original is None or (isinstance(original, (float, np.floating)) and np.isnan(original)) \
                    or original is pd.NA:
                return ""
            if isinstance(original, (str, tuple, list, bool)) or pd.isna(value):
                return str(original)
            return spec.format(value)

        return pd.Series([one(o, v) for o, v in zip(column, values)], index=column.index, name=column.name,
                         dtype=object)

    return frame.apply(shown)


def formatted(frame: pd.DataFrame) -> pd.DataFrame:
    """`table` (or `views_table`) with every cell as the report shows it: accuracies in %, each with its 95%
    interval over the faces it was measured on where the frame says how many ("63.3% (61.7-64.9%)"), counts
    grouped, training minutes whole, a blank where a value does not apply."""
    shown = readable(frame.drop(columns=[c for c in FACES_COLUMNS.values() if c in frame]),
                     formats={"training minutes": "{:.0f}"})
    for split, faces_column in FACES_COLUMNS.items():
        if faces_column not in frame:
            continue
        for column in [c for c in shown.columns if c.startswith(f"{split} accuracy") or c == f"best {split} accuracy"]:
            for row, (value, faces) in enumerate(zip(frame[column], frame[faces_column])):
                if not pd.isna(value) and not pd.isna(faces) and faces:
                    shown.iloc[row, shown.columns.get_loc(column)] += \
                        f" ({uncertainty.interval_text(*uncertainty.accuracy_interval(float(value), int(faces)))})"
    return shown


def history_table(history: pd.DataFrame) -> pd.DataFrame:
    """Rows of a training history as a reader reads them: loss to three decimals, accuracies in %, the learning
    rate in scientific notation, seconds to one decimal; indexed by epoch."""
    named = history.rename(columns={"val_loss": "val loss", "val_accuracy": "val accuracy", "lr": "learning rate"})
    return readable(named.set_index("epoch"), formats={"learning rate": "{:.2e}", "seconds": "{:.1f}"})


def markdown(frame: pd.DataFrame) -> str:
    """`table` as a Markdown table (for the README)."""
    shown = formatted(frame)
    lines = ["| model | " + " | ".join(shown.columns) + " |", "|---" * (len(shown.columns) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(row) + " |" for name, row in shown.iterrows()]
    return "\n".join(lines) + "\n"
