"""A notebook's run: `setup_run` turns the parameters cell into a `Run` that knows its folders, loads the data
once, preprocesses it with the run's saved statistics, and trains, loads or reads the registry's models."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import numpy as np

from . import atomic, data, findings, paths, profiles, registry, results, runtime, settings, views
from .errors import UserError


class Run:
    """One run folder under one set of parameters (a notebook's parameters plus profile, data_source, run_dir),
    with the compute settings of its profile (`fer_utils.settings`), which a notebook's own value overrides."""

    def __init__(self, params: dict):
        missing = [k for k in ("profile", "run_dir", "seed") if k not in params]
        if missing:
            raise UserError(f"the parameters cell sets no {', '.join(missing)}")
        profile = {k: v for k, v in profiles.load_profile(params["profile"]).items() if settings.is_setting(k)}
        self.params = {"data_source": None, "retrain": False, "train_limit": 0, "eval_limit": 0, **profile,
                       **params}
        self.profile, self.seed = self.params["profile"], self.params["seed"]
        self.paths = paths.RunPaths(Path(self.params["run_dir"]).expanduser().resolve())
        for folder in (self.paths.root, self.paths.figures, self.paths.models):
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def root(self) -> Path:
        return self.paths.root

    @property
    def figures(self) -> Path:
        return self.paths.figures

    @functools.cached_property
    def fer(self) -> data.FER2013:
        """The run's faces, loaded once and limited as the parameters say."""
        p = self.params
        return data.limit(data.load_fer2013(p["data_source"]), p["train_limit"], p["eval_limit"], self.seed)

    @property
    def report_split(self) -> str:
        """The split results are shown on: test (PrivateTest), or val where the source has no test split."""
        return "test" if self.fer.test is not None else "val"

    def split_label(self, name: str | None = None) -> str:
        """How tables and sentences name a split: "test (PrivateTest)", "val (PublicTest)" or "val (carved from
        training)"."""
        name = name or self.report_split
        usage = {v: k for k, v in data.USAGE_TO_SPLIT.items()}[name]
        return f"{name} ({'carved from training' if name == 'val' and self.fer.val_carved else usage})"

    def split(self, name: str | None = None) -> data.Split:
        """The faces of split `name` (default: `report_split`)."""
        return getattr(self.fer, name or self.report_split)

    @functools.cache
    def x(self, kind: str = "report") -> dict[str, np.ndarray]:
        """Every split preprocessed with the run's `kind` statistics (the report's are those notebook 01 saved)."""
        from .preprocess import prepared

        return prepared(self.fer, kind, self.root)

    def train(self, name: str, epochs: int | None = None):
        """Train `name` to the epochs its parameter says (or resume, or load a finished training: a notebook
        opened on a finished run loads it; or, unless the `retrain` parameter, start from the reference run's
        training when its settings are these) and evaluate it (test with the views chosen on val); returns
        (Trained, results)."""
        from .train import train_and_evaluate

        spec, p = registry.get(name), self.params
        if epochs is None and spec.epochs_key not in p:
            raise UserError(f"this notebook's parameters set no {spec.epochs_key} (the epochs of {name})")
        return train_and_evaluate(name, self.fer, self.x(spec.preprocessing), self.root,
                                  epochs=epochs or p[spec.epochs_key], seed=self.seed, train_limit=p["train_limit"],
                                  eval_limit=p["eval_limit"], retrain=bool(p["retrain"]),
                                  **settings.resolve(p, name, where=f"profile {self.profile}"))

    def seeds(self, name: str, count: int) -> dict[int, dict]:
        """`name` trained with `count` seeds: the run's own (`train`) and the next ones, each an extra-seed training
        in models/<name>-seed<N> (trained here, or its results taken from the reference run where it holds that
        very training); seed -> results record."""
        from . import reference
        from .train import train_and_evaluate

        spec, p = registry.get(name), self.params
        found = {self.seed: self.train(name)[1]}
        for seed in range(self.seed + 1, self.seed + count):
            compute = settings.resolve(p, name, where=f"profile {self.profile}")
            wanted = reference.settings(data_sha256=data.sha256(self.fer.source), epochs=p[spec.epochs_key],
                                        batch_size=compute["batch_size"], seed=seed, train_limit=p["train_limit"],
                                        eval_limit=p["eval_limit"], precision=compute["mixed_precision"])
            folder = self.paths.seed_model(name, seed)
            if not p["retrain"] and reference.take_seed(name, wanted, folder):
                found[seed] = results.read_record(folder)
                continue
            found[seed] = train_and_evaluate(name, self.fer, self.x(spec.preprocessing), self.root,
                                             epochs=p[spec.epochs_key], seed=seed, train_limit=p["train_limit"],
                                             eval_limit=p["eval_limit"], retrain=bool(p["retrain"]), extra_seed=True,
                                             **compute)[1]
        return found

    def model(self, name: str):
        """The best-on-val model of `name` trained in this run (an error naming its notebook if it is not)."""
        from .loading import load_best

        return load_best(self.root, name)

    def history(self, name: str):
        from .loading import load_history

        return load_history(self.root, name)

    def results(self, name: str) -> dict:
        """The results record of `name` (`fer_utils.results`)."""
        return results.read(self.root, name)

    def outputs(self, name: str) -> dict[str, np.ndarray]:
        """The outputs of `name` on each of this run's splits (val, and test where the source has it), averaged
        over the test-time views chosen for it on val, as its training notebook saved them."""
        saved = results.read_outputs(self.root, name)
        splits = [s for s in ("val", "test") if getattr(self.fer, s) is not None]
        for s in splits:
            if s not in saved or len(saved[s]) != len(self.split(s)):
                raise UserError(f"the saved outputs of {name} do not cover this run's {s} faces: run notebook "
                                 f"{registry.trained(name)[0].notebook} again with the same run_dir")
        return {s: saved[s] for s in splits}

    def ensemble(self, members: list[str] | None = None) -> dict:
        """The ensemble of `members` (default: every training this run holds, the extra seeds of a model
        ("cnn_tuned-seed43") included, its students not): their probabilities with the views each chose on val, averaged with weights
        chosen on val only (`fer_utils.ensemble`), scored on val and test; saved as models/ensemble.json."""
        from . import ensemble

        names = members or results.trainings(self.root, students=False)
        outputs = {}
        for name in names:
            for split, out in self.outputs(name).items():
                outputs.setdefault(split, {})[name] = ensemble.probabilities(name, out)
        record = ensemble.evaluate(outputs["val"], self.fer.val.labels, outputs.get("test"),
                                   self.fer.test.labels if self.fer.test is not None else None)
        atomic.write_json(self.paths.ensemble, record)
        return record

    def calibration(self) -> dict:
        """Every training this run holds (extra seeds and students included) and its ensemble (models/ensemble.json),
        calibrated: a temperature fitted on val alone, ECE and log-loss before and after on val and test
        (`fer_utils.calibration`); saved as models/calibration.json."""
        from . import calibration

        names = results.trainings(self.root)
        if self.paths.ensemble.exists():
            names.append("ensemble")
        y = {s: self.split(s).labels for s in ("val", "test") if getattr(self.fer, s) is not None}
        record = {}
        for name in names:
            p = {s: self.probabilities(name, s) for s in y}
            record[name] = calibration.calibrate(p["val"], y["val"], p.get("test"), y.get("test"))
        atomic.write_json(self.paths.calibration, record)
        return record

    def probabilities(self, name: str, split: str, temperature: float = 1.0) -> np.ndarray:
        """The class probabilities of training `name` (or "ensemble": its members' mixed with its weights) on
        `split`, each with its views chosen on val, at `temperature` (`fer_utils.views.probabilities`)."""
        from . import ensemble

        if name == "ensemble":
            weights = json.loads(self.paths.ensemble.read_text())["weights"]
            mixed = ensemble.combine({n: ensemble.probabilities(n, self.outputs(n)[split]) for n, w in weights.items()
                                      if w}, weights)
            return views.probabilities(mixed, temperature=temperature)
        return views.probabilities(self.outputs(name)[split], registry.trained(name)[0].scores, temperature)

    def record_finding(self, key: str, value, model: str = "cnn") -> None:
        """Keep a measurement the report's claims rest on in the run's findings (`fer_utils.claims`), with the
        training of `model` it measured."""
        findings.record_finding(self.root, key, value, measured_on=self.results(model))

    def banner(self) -> str:
        """What a notebook states first: profile, run folder, library versions, and the Keras backend's devices
        when Keras is loaded."""
        lines = [f"profile {self.profile}; run folder {paths.shown_path(self.root)}",
                 ", ".join(f"{name} {version}" for name, version in runtime.versions().items())]
        if "keras" in sys.modules:
            import keras

            lines.append(f"Keras backend {keras.backend.backend()} on {', '.join(runtime.devices())}")
        return "\n".join(lines)


def setup_run(namespace: dict, keras: bool = False) -> Run:
    """The notebook's run from its parameters (`globals()` after the parameters cell: the names of the profiles
    and profile, data_source, run_dir are taken): folders created, seeds set (Keras too, with deterministic
    ops, when `keras`), log lines to stderr, the plotting style."""
    from . import plots

    names = set(profiles.load_profile(profiles.DEFAULT_PROFILE)) | set(profiles.RUNNER_PARAMETERS)
    run = Run({k: v for k, v in namespace.items() if k in names or settings.is_setting(k)})
    runtime.seed_everything(run.seed, keras=keras)
    runtime.setup_logging()
    plots.set_style()
    return run
