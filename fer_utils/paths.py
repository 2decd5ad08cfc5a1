"""Where things are: the project's folders, the layout of a run folder, and how a report shows a path (never this
machine's absolute one) and the checkout's commit."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
PARAMS_DIR = PROJECT_ROOT / "params"
RUNS_DIR = PROJECT_ROOT / "runs"
DEFAULT_PROFILE = "quick"  # params/quick.yaml; the notebooks' parameter cells hold its values
LIVE_HOST, LIVE_PORT = "127.0.0.1", 8765  # where `fer-report live` listens: this machine only, by default


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

    @property
    def calibration(self) -> Path:
        """The run's calibration record (`fer_utils.calibration`): a temperature and ECE per training."""
        return self.models / "calibration.json"

    def model(self, name: str) -> Path:
        """A model's training folder: history, checkpoints, best model, results."""
        return self.models / name

    def seed_model(self, name: str, seed: int) -> Path:
        """The training folder of `name` trained with an extra seed (the spread of a result over seeds)."""
        return self.models / f"{name}-seed{int(seed)}"

    def statistics(self, kind: str) -> Path:
        """The saved preprocessing statistics of `kind` ("report": preprocessing.npz, written by notebook 01)."""
        return self.models / ("preprocessing.npz" if kind == "report" else f"{kind}_preprocessing.npz")
