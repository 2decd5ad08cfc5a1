"""The ensemble: weights chosen on val only, and what they do."""

import inspect

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, log_loss

from fer_utils import ensemble, registry
from fer_utils.errors import UserError

CLASSES = 7


def noisy_members(seed=0, n=700):
    """Labels and three members' probabilities: two that know different halves of the faces, one that guesses."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)

    def member(known):
        logits = rng.normal(0, 1, (n, CLASSES))
        logits[known, y[known]] += 3
        logits[~known, y[~known]] += 0.7
        p = np.exp(logits)
        return p / p.sum(1, keepdims=True)

    half = np.arange(n) < n // 2
    guess = np.full((n, CLASSES), 1 / CLASSES) + rng.normal(0, 0.01, (n, CLASSES)).clip(-0.1, 0.1)
    return y, {"a": member(half), "b": member(~half), "guess": guess / guess.sum(1, keepdims=True)}


def test_weights_sum_to_one_in_steps_of_one_round_and_skip_a_guesser():
    y, members = noisy_members()
    weights = ensemble.select_weights(members, y, rounds=20)
    assert set(weights) == {"a", "b", "guess"}
    assert sum(weights.values()) == pytest.approx(1)
    assert all(round(w * 20, 9).is_integer() for w in weights.values())
    assert weights["guess"] == 0 and weights["a"] > 0.2 and weights["b"] > 0.2


def test_the_ensemble_of_complementary_members_beats_each():
    y, members = noisy_members(1)
    y_test, test = noisy_members(2)
    record = ensemble.evaluate(members, y, test, y_test, rounds=20)
    best_member = max(r["test"] for r in record["member_accuracy"].values())
    assert record["test"] > best_member + 0.05
    assert record["without"]["guess"]["val"] == pytest.approx(record["val"])  # the guesser does not matter
    assert record["without"]["a"]["val"] < record["val"]  # a does


def test_selection_never_sees_test():
    """The weights and the val accuracy come out the same whatever the test outputs and labels are; the
    selection function takes no test data at all."""
    y, val = noisy_members(3)
    y_test, test = noisy_members(4)
    rng = np.random.default_rng(5)
    scrambled = {n: rng.dirichlet(np.ones(CLASSES), len(y_test)) for n in test}
    first = ensemble.evaluate(val, y, test, y_test, rounds=15)
    second = ensemble.evaluate(val, y, scrambled, rng.permutation(y_test), rounds=15)
    assert first["weights"] == second["weights"] and first["val"] == second["val"]
    assert {n: r["val"] for n, r in first["without"].items()} == {n: r["val"] for n, r in second["without"].items()}
    assert first["test"] != second["test"]
    assert list(inspect.signature(ensemble.select_weights).parameters) == ["val", "y_val", "rounds"]


def test_svm_scores_become_probabilities_with_the_same_ranking():
    scores = np.random.default_rng(0).normal(0, 3, (20, CLASSES))
    p = ensemble.probabilities("dlsvm_svm", scores)
    assert p.shape == (20, CLASSES) and np.allclose(p.sum(1), 1) and (p > 0).all()
    assert (p.argmax(1) == scores.argmax(1)).all()
    probabilities = np.random.default_rng(1).dirichlet(np.ones(CLASSES), 20)
    np.testing.assert_allclose(ensemble.probabilities("dlsvm_softmax", probabilities), probabilities, rtol=1e-12)


def test_an_ensemble_needs_members():
    with pytest.raises(ValueError, match="at least one member"):
        ensemble.select_weights({}, np.zeros(3))


def bold_and_cautious(seed=0, n=600):
    """Labels and two members: one more accurate whose mistakes are certain, one less accurate and cautious
    (the lower log-loss, so the greedy selection starts from it)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)

    def member(accuracy, sure_when_right, sure_when_wrong):
        right = rng.random(n) < accuracy
        said = np.where(right, y, (y + 1 + rng.integers(0, CLASSES - 1, n)) % CLASSES)
        sure = np.where(right, sure_when_right, sure_when_wrong)
        p = np.repeat(((1 - sure) / (CLASSES - 1))[:, None], CLASSES, 1)
        p[np.arange(n), said] = sure
        return p

    return y, {"bold": member(0.75, 0.3, 0.999), "cautious": member(0.65, 0.6, 0.3)}


def test_a_mix_less_accurate_on_val_than_its_best_member_gives_way_to_that_member():
    y, members = bold_and_cautious()
    losses = {n: log_loss(y, p, labels=range(CLASSES)) for n, p in members.items()}
    assert losses["cautious"] < losses["bold"]  # the log-loss selection alone would give "cautious" weight
    assert accuracy_score(y, members["bold"].argmax(1)) > accuracy_score(y, members["cautious"].argmax(1))
    assert ensemble.select_weights(members, y, rounds=10) == {"bold": 1.0, "cautious": 0.0}
    record = ensemble.evaluate(members, y)
    assert record["val"] >= max(r["val"] for r in record["member_accuracy"].values())


def test_extra_seed_trainings_are_members_of_their_model_kind():
    scores = np.random.default_rng(0).normal(0, 3, (20, CLASSES))
    np.testing.assert_allclose(ensemble.probabilities("dlsvm_svm-seed43", scores),
                               ensemble.probabilities("dlsvm_svm", scores))
    assert registry.trained("cnn_tuned-seed43") == (registry.get("cnn_tuned"), 43)
    assert registry.trained("cnn_tuned") == (registry.get("cnn_tuned"), None)
    assert registry.label("cnn_tuned-seed43") == f"{registry.label('cnn_tuned')} (seed 43)"
    with pytest.raises(UserError, match="unknown model 'cnn_tuned-seedX'"):
        registry.trained("cnn_tuned-seedX")


@pytest.mark.parametrize("seed", range(5))
def test_the_kept_mix_is_never_less_accurate_on_val_than_a_member_and_is_a_point_of_the_path(seed):
    y, members = noisy_members(seed, n=300)
    members["c"] = np.roll(members["a"], 1, axis=0)  # a member that is wrong about most faces
    weights = ensemble.select_weights(members, y, rounds=12)
    mixed = ensemble.combine(members, weights)
    assert accuracy_score(y, mixed.argmax(1)) >= max(accuracy_score(y, p.argmax(1)) for p in members.values())
    rounds = next(k for k in range(1, 13) if all(round(w * k, 9).is_integer() for w in weights.values()))
    assert rounds <= 12 and sum(weights.values()) == pytest.approx(1)
