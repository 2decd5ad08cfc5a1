"""Training progress on the runner's terminal: what one line says, one updating line on a terminal, plain lines
(one per epoch) in a log."""

from __future__ import annotations

import io
import json
import time

from fer_utils import atomic
from fer_utils.progress import TrainingProgress, describe


def state(epoch, batch=0, **kw):
    return {"model": "cnn", "epoch": epoch, "epochs": 50, "batch": batch, "batches": 225, "val_accuracy": 0.55,
            "started": 1000.0, "epochs_this_run": epoch, "updated": time.time(), **kw}


def test_a_line_says_model_epoch_accuracy_elapsed_and_time_left():
    line = describe(state(4, batch=45), "02_cnn_training", now=1000.0 + 4.2 * 40)
    assert line == ("02_cnn_training: cnn epoch 4/50 (batch 45/225), val accuracy 55.0%, 2 min 48 s elapsed, "
                    "about 30 min 32 s left")  # 40 s an epoch, 45.8 epochs to go
    first = describe(state(0, val_accuracy=None, epochs_this_run=0), "02_cnn_training", now=1003.0)
    assert first == "02_cnn_training: cnn epoch 0/50, 3 s elapsed"
    resumed = describe(state(30, epochs_this_run=2), "02_cnn_training", now=1000.0 + 100)
    assert resumed.endswith("about 16 min 40 s left")  # the pace of this run's 2 epochs, not of 30


class Terminal(io.StringIO):
    def isatty(self):
        return True


def watch(tmp_path, stream, updates):
    models = tmp_path / "models"
    with TrainingProgress(models, "02_cnn_training", stream=stream, interval=0.05) as progress:
        for update in updates:
            atomic.write_json(models / "cnn" / "progress.json", {**update, "updated": time.time()})
            progress.poll()
    return stream.getvalue()


def test_plain_lines_per_epoch_in_a_log_and_one_updating_line_on_a_terminal(tmp_path):
    (tmp_path / "models" / "old").mkdir(parents=True)
    (tmp_path / "models" / "old" / "progress.json").write_text(json.dumps(state(7, updated=0)))  # a past run
    updates = [state(0), state(0, batch=100), state(1), state(1, batch=50), state(2)]
    log = watch(tmp_path, io.StringIO(), updates)
    assert [line.split(",")[0] for line in log.splitlines()] == [
        "02_cnn_training: cnn epoch 0/50", "02_cnn_training: cnn epoch 1/50", "02_cnn_training: cnn epoch 2/50"]
    screen = watch(tmp_path / "tty", Terminal(), updates)
    assert screen.count("\r") >= len(updates) and screen.endswith("\n") and screen.count("\n") == 1
    assert screen.rsplit("\r", 1)[1].startswith("02_cnn_training: cnn epoch 2/50")
