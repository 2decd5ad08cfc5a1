"""pytest set-up shared by the unit tests and nbval: quiet TensorFlow, fixed hashing, no stderr comparison, each
executed notebook re-run on the Keras backend that ran it, the notebook-executing tests first."""

import json
import os
from pathlib import Path

import pytest

# Before any kernel starts: TensorFlow's C++ start-up lines differ between runs, and hashing must not.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("PYTHONHASHSEED", "0")


def pytest_collectstart(collector):
    """nbval compares what a notebook prints, not its log lines (stderr holds timings and cache messages)."""
    if str(getattr(collector, "path", "")).endswith(".ipynb") and hasattr(collector, "skip_compare"):
        collector.skip_compare += ("stderr",)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before nbval starts a notebook's kernel (the kernel inherits this environment): the Keras backend that ran
    the notebook, as its run folder's manifest records it, so that one nbval session checks every run."""
    path = Path(str(getattr(item, "path", "")))
    manifest = path.parent.parent / "manifest.json"
    if path.suffix == ".ipynb" and manifest.exists():
        os.environ["KERAS_BACKEND"] = json.loads(manifest.read_text())["keras_backend"]


def pytest_collection_modifyitems(items):
    """The tests that execute notebooks go first (the smoke series are the longest): under pytest-xdist they start
    at once, each on its own worker, and the other tests fill in around them. The order is kept otherwise."""
    items.sort(key=lambda item: item.get_closest_marker("notebooks") is None)
