"""pytest set-up shared by the unit tests and nbval: quiet TensorFlow, fixed hashing, no stderr comparison."""

import os

# Before any kernel starts: TensorFlow's C++ start-up lines differ between runs, and hashing must not.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("PYTHONHASHSEED", "0")


def pytest_collectstart(collector):
    """nbval compares what a notebook prints, not its log lines (stderr holds timings and cache messages)."""
    if str(getattr(collector, "path", "")).endswith(".ipynb") and hasattr(collector, "skip_compare"):
        collector.skip_compare += ("stderr",)
