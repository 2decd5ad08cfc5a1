"""Evaluation: accuracy plain and flip-averaged, and the view set chosen on val alone (ties broken by val log-loss,
then fewer views)."""

from __future__ import annotations

import numpy as np
import pytest

from fer_utils import evaluation, registry
from tests.test_views import PixelModel


def test_evaluate_plain_and_flip_averaged():
    model = PixelModel()
    x = np.random.default_rng(3).normal(size=(40, 48, 48, 1)).astype("float32")
    y = np.arange(40) % 7
    result, averaged = evaluation.evaluate(model, x, y)
    p = model.predict(x)
    assert result["accuracy"] == pytest.approx(np.mean(p.argmax(1) == y))
    flipped = (p + model.predict(x[:, :, ::-1])) / 2
    assert result["flip_accuracy"] == pytest.approx(np.mean(flipped.argmax(1) == y))
    np.testing.assert_allclose(averaged["mirror"], flipped, atol=1e-6)
    assert list(result["per_class"]) == list(evaluation.CLASS_NAMES)


def test_view_sets_are_chosen_on_val_alone():
    rng = np.random.default_rng(2)
    x = {"val": rng.normal(size=(120, 48, 48, 1)).astype("float32"),
         "test": rng.normal(size=(100, 48, 48, 1)).astype("float32")}
    y = {"val": rng.integers(0, 7, 120), "test": rng.integers(0, 7, 100)}
    sets = registry.CROP_VIEWS
    first, outputs = evaluation.evaluate_splits(PixelModel(scores=True), x, y, sets, scores=True)
    assert first["val"]["views"] == evaluation.choose_views(first["val"]) and set(first["val"]["view_sets"]) == set(sets)
    assert first["test"]["views"] == first["val"]["views"] and list(first["test"]["view_sets"]) == [first["val"]["views"]]
    assert outputs["test"].shape == (100, 7) and outputs["val"].shape == (120, 7)
    for relabelled in (rng.permutation(y["test"]), (y["test"] + 1) % 7, np.zeros(100, int)):
        second, _ = evaluation.evaluate_splits(PixelModel(scores=True), x, {**y, "test": relabelled}, sets, scores=True)
        assert second["val"] == first["val"] and second["test"]["views"] == first["test"]["views"]


def test_the_choice_breaks_ties_by_val_log_loss_then_fewer_views():
    record = {"view_sets": {"plain": 0.60, "mirror": 0.62, "mirror x 5 shifts": 0.62, "mirror x 9 shifts": 0.62},
              "view_set_log_loss": {"plain": 1.0, "mirror": 0.95, "mirror x 5 shifts": 0.93, "mirror x 9 shifts": 0.93}}
    assert evaluation.choose_views(record) == "mirror x 5 shifts"
    record["view_set_log_loss"]["mirror x 9 shifts"] = 0.92
    assert evaluation.choose_views(record) == "mirror x 9 shifts"
    record["view_sets"]["plain"] = 0.63
    assert evaluation.choose_views(record) == "plain"
