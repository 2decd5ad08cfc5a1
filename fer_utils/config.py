"""Where things are and how a run is configured: the project's folders, the parameter profiles in params/,
the data a run reads, and the layout of a run folder. Both `fer-report` and the training CLI start here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
PARAMS_DIR = PROJECT_ROOT / "params"
RUNS_DIR = PROJECT_ROOT / "runs"
RUNNER_PARAMETERS = ("profile", "data_source", "run_dir", "retrain")  # set by the runner, not by a profile
DEFAULT_PROFILE = "quick"  # the notebooks' parameter cells hold its values


class SeriesError(UserError):
    """A profile, notebook selection or notebook run that failed; the message is one line for the user."""


class _UniqueKeys(yaml.SafeLoader):
    """YAML's safe loader that refuses a key given twice (which would silently keep the last value)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"{key} is given twice (line "
                                                        f"{key_node.start_mark.line + 1})", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def profile_path(name: str) -> Path:
    """The YAML file of profile `name`: params/<name>.yaml for a bare name, else `name` as a path (with or without
    its .yaml)."""
    given = Path(name).expanduser()
    bare = given.suffix not in (".yaml", ".yml") and len(given.parts) == 1
    if bare and (PARAMS_DIR / f"{name}.yaml").is_file():
        return PARAMS_DIR / f"{name}.yaml"
    for path in (given, given.with_name(given.name + ".yaml")):
        if path.is_file():
            return path.resolve()
    return PARAMS_DIR / f"{name}.yaml" if bare else given


def profile_name(name: str) -> str:
    """How a run names its profile: the file's stem ("quick" for params/quick.yaml or ~/my/quick.yaml)."""
    return profile_path(name).stem


def load_profile(name: str) -> dict:
    """The parameters of profile `name` (`profile_path`) as a dict, checked (`settings.check_profile`): a missing
    key or a value a setting does not take is a SeriesError naming the file and the key."""
    from . import settings

    if not str(name).strip() or Path(str(name)).name in ("", ".", ".."):
        raise SeriesError(f"--profile {name!r}: name a profile (smoke, quick, full) or a profile's YAML file")
    path = profile_path(name)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PARAMS_DIR.glob("*.yaml")))
        raise SeriesError(f"unknown profile {name!r}: no {path} (profiles: {known}; or give a profile's path)")
    try:
        params = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeys) or {}
    except UnicodeDecodeError as e:
        raise SeriesError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except yaml.YAMLError as e:
        raise SeriesError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(params, dict):
        raise SeriesError(f"{path}: expected a mapping of parameter names to values")
    clash = sorted(set(params) & set(RUNNER_PARAMETERS))
    if clash:
        raise SeriesError(f"{path}: {', '.join(clash)} is set by fer-report itself, not by a profile")
    try:
        settings.check_profile(params, where=str(path))
    except ValueError as e:
        raise SeriesError(str(e)) from None
    return params


def run_folder(profile: str, run_dir: str | os.PathLike | None = None) -> Path:
    """The run folder: `run_dir` when given, else runs/<profile>; absolute."""
    return Path(run_dir).expanduser().resolve() if run_dir else RUNS_DIR / profile_name(profile)


def resolve_data(data: str | os.PathLike | None) -> str:
    """The absolute path of the data the notebooks read, found once by the runner (or the training CLI), so
    that each executed copy names its data and re-runs (nbval) read the same, whatever the environment."""
    from .data import resolve_source

    return str(resolve_source(data).resolve())


def git_commit(path: str | os.PathLike | None = None) -> str:
    """The checkout's commit (with `path`, the last commit that changed that file), marked "+ local changes"
    when the tree (or the file) differs from it; "unknown" outside git."""
    import subprocess

    def git(*args):
        return subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True).stdout.strip()

    which = ["--", str(path)] if path is not None else []
    try:
        commit = git("log", "-1", "--format=%H", *which) if which else git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", *which)
    except OSError:
        return "unknown"
    return commit + (" + local changes" if changed else "") if commit else "unknown"


def shown_path(path: str | os.PathLike) -> str:
    """A path as a report shows it: relative to the project when inside it, else its last two parts; never the
    machine's absolute path."""
    path = Path(path)
    try:
        return path.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return Path(*path.parts[-2:]).as_posix() if len(path.parts) > 1 else path.name


@dataclass(frozen=True)
class RunPaths:
    """Where one run keeps its artifacts under `root`: figures, and models (with their histories)."""

    root: Path

    @property
    def lock(self) -> Path:
        """The lock file a series, and a render, hold while they write the run (`fer_utils.lock`)."""
        return self.root / ".lock"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def ensemble(self) -> Path:
        """The run's ensemble record (`fer_utils.ensemble`)."""
        return self.models / "ensemble.json"

    def model(self, name: str) -> Path:
        """A model's training folder: history, checkpoints, best model, results."""
        return self.models / name

    def seed_model(self, name: str, seed: int) -> Path:
        """The training folder of `name` trained with an extra seed (the spread of a result over seeds)."""
        return self.models / f"{name}-seed{int(seed)}"

    def statistics(self, kind: str) -> Path:
        """The saved preprocessing statistics of `kind` ("report": preprocessing.npz, written by notebook 01)."""
        return self.models / ("preprocessing.npz" if kind == "report" else f"{kind}_preprocessing.npz")
