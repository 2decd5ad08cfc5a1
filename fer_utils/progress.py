"""Training progress a person can follow while `fer-report run` executes a notebook: the trainings of the run
write progress.json as they go (`fer_utils.train`), and this watches them from the runner, as one updating line
on a terminal and as plain lines, one per epoch, in a log file or CI."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

PROGRESS_FILE = "progress.json"


def describe(state: dict, notebook: str, now: float | None = None) -> str:
    """One line: notebook, model, epoch k/N (with the batch within an epoch), last val accuracy, time elapsed
    and an estimate of the time left from this run's pace."""
    now = time.time() if now is None else now
    epoch, epochs, batch, batches = state["epoch"], state["epochs"], state.get("batch", 0), state.get("batches", 0)
    within = batch / batches if batches and batch else 0.0
    parts = [f"{notebook}: {state['model']} epoch {epoch}/{epochs}"]
    if within:
        parts[0] += f" (batch {batch}/{batches})"
    if state.get("val_accuracy") is not None:
        parts.append(f"val accuracy {state['val_accuracy']:.1%}")
    elapsed = now - state["started"]
    parts.append(f"{_duration(elapsed)} elapsed")
    done = state.get("epochs_this_run", 0) + within
    if done > 0 and epoch < epochs:
        parts.append(f"about {_duration(elapsed / done * (epochs - epoch - within))} left")
    return ", ".join(parts)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class TrainingProgress:
    """While in use, polls `models_dir/*/progress.json` for trainings updated since it started and shows the
    latest: rewriting one line on a terminal, otherwise printing a line each time a training starts or finishes
    an epoch. A last look when it ends shows the final state of a training too quick to be caught."""

    def __init__(self, models_dir: str | Path, notebook: str, stream=None, interval: float = 1.0):
        self.models_dir, self.notebook = Path(models_dir), notebook
        self.stream = stream or sys.stdout
        self.interval, self.since = interval, time.time()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.seen: dict[str, int] = {}
        self.width = 0
        self._stop, self._lock = threading.Event(), threading.Lock()

    def __enter__(self):
        self.since = time.time()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.poll()
        if self.width:
            self.stream.write("\n")
            self.stream.flush()
        return False

    def _watch(self):
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        """Show what changed since the last look."""
        with self._lock:
            self._show(self._fresh_states())

    def _show(self, states: list[dict]) -> None:
        for state in states:
            line = describe(state, self.notebook)
            if self.tty:
                self.stream.write("\r" + line.ljust(self.width))
                self.width = max(self.width, len(line))
            elif self.seen.get(state["model"]) != state["epoch"]:
                self.stream.write(line + "\n")
            self.seen[state["model"]] = state["epoch"]
            self.stream.flush()

    def _fresh_states(self) -> list[dict]:
        states = []
        for path in self.models_dir.glob(f"*/{PROGRESS_FILE}"):
            try:
                state = json.loads(path.read_text())
            except (OSError, ValueError):  # replaced while read: the next look sees it
                continue
            if state.get("updated", 0) >= self.since:
                states.append(state)
        return sorted(states, key=lambda s: s["updated"])
