"""Calibration: a temperature fitted on val that makes overconfident probabilities honest, and the ECE."""

import numpy as np
import pytest

from fer_utils import calibration, views


def honest(seed: int, n: int = 4000, sharpen: float = 1.0):
    """Faces whose labels are drawn from softmax(z): probabilities softmax(z) are calibrated by construction;
    softmax(`sharpen` z) are overconfident for `sharpen` > 1."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, 7))
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.array([rng.choice(7, p=row) for row in p])
    sharp = np.exp(sharpen * z) / np.exp(sharpen * z).sum(1, keepdims=True)
    return sharp, y


def test_the_temperature_undoes_overconfidence_and_the_ece_falls():
    val, y_val = honest(0, sharpen=3.0)
    test, y_test = honest(1, sharpen=3.0)
    record = calibration.calibrate(val, y_val, test, y_test)
    assert record["temperature"] == pytest.approx(3.0, rel=0.1)
    assert record["test"]["ece"] > 0.1 and record["test"]["ece_calibrated"] < 0.03
    assert record["test"]["log_loss_calibrated"] < record["test"]["log_loss"]
    calibrated, y = honest(2)
    assert calibration.fit_temperature(calibrated, y) == pytest.approx(1.0, abs=0.1)


def test_the_ece_and_the_reliability_bins_by_hand():
    p = np.array([[0.95, 0.05, 0, 0, 0, 0, 0], [0.95, 0.05, 0, 0, 0, 0, 0], [0.35, 0.25, 0.2, 0.2, 0, 0, 0],
                  [0.25, 0.75, 0, 0, 0, 0, 0]])
    y = np.array([0, 1, 0, 1])  # bin 0.9-1: 1 of 2 right (gap 0.45); 0.3-0.4: right (0.65); 0.7-0.8: right (0.25)
    bins = calibration.reliability(p, y, bins=10)
    assert bins["faces"].tolist() == [0, 0, 0, 1, 0, 0, 0, 1, 0, 2]
    assert bins["accuracy"][9] == 0.5 and bins["confidence"][9] == pytest.approx(0.95)
    assert np.isnan(bins["accuracy"][0])
    assert calibration.expected_calibration_error(p, y, bins=10) == pytest.approx((2 * 0.45 + 0.65 + 0.25) / 4)


def test_a_temperature_scales_log_probabilities_and_svm_scores_alike():
    p = np.random.default_rng(0).dirichlet(np.ones(7), 10)
    np.testing.assert_allclose(views.probabilities(p, temperature=1.0), p)
    np.testing.assert_allclose(views.probabilities(p, temperature=2.0),
                               views.probabilities(np.log(p) / 2.0, scores=True))
    soft = views.probabilities(p, temperature=2.0)
    assert (soft.argmax(1) == p.argmax(1)).all() and (soft.max(1) < p.max(1)).all()
    scores = np.random.default_rng(1).normal(0, 3, (10, 7))
    np.testing.assert_allclose(views.probabilities(scores, scores=True, temperature=3.0),
                               views.probabilities(scores / 3.0, scores=True))
