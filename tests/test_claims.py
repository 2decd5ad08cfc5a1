"""The claims table: verdicts follow the numbers (change a number and the verdict changes), a claim that needs the
report's schedule says so at a smaller budget, and the committed reference run's claims.json is what its results
give, not typed in."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fer_utils import claims, data, findings, paths, registry, uncertainty
REFERENCE = paths.PROJECT_ROOT / "reference"


def history(epochs: int, loss, val_loss, accuracy=0.5) -> pd.DataFrame:
    return pd.DataFrame({"epoch": range(1, epochs + 1), "loss": loss, "accuracy": accuracy, "val_loss": val_loss,
                         "val_accuracy": np.linspace(0.3, 0.6, epochs), "lr": 1e-3, "seconds": 1.0})


FACES = 3589


def outcomes(accuracy: float, faces: int = FACES) -> str:
    """Per-face outcomes of a model with `accuracy`: the first faces right, the rest wrong (so that of two models
    the better one is right wherever the worse one is, and their difference is sharp)."""
    return uncertainty.pack(np.arange(faces) < round(accuracy * faces))


def record(name: str, epochs: int, accuracy: float, best_epoch: int | None = None) -> dict:
    split = {"accuracy": accuracy, "flip_accuracy": accuracy, "views": "mirror", "views_accuracy": accuracy,
             "faces": FACES, "correct": outcomes(accuracy),
             "intervals": {"views_accuracy": list(uncertainty.accuracy_interval(accuracy, FACES))}}
    params = {"cnn": 1_703_623, "cnn_noaug": 1_703_623, "dnn": 1_974_791, "dnn_aug": 1_974_791}.get(name, 1000)
    return {"model": name, "epochs": epochs, "best_epoch": best_epoch or epochs, "trainable_parameters": params,
            "val": dict(split), "test": dict(split)}


def rescore(evidence: findings.Evidence, name: str, accuracy: float, correct: np.ndarray | None = None) -> None:
    """Give model `name` another test accuracy (and per-face outcomes)."""
    evidence.records[name]["test"].update(views_accuracy=accuracy, correct=uncertainty.pack(correct) if correct
                                          is not None else outcomes(accuracy))


def full_evidence() -> findings.Evidence:
    """A run at the report's budget where every claim holds."""
    falling = np.linspace(2, 1, 300)
    records = {"cnn": record("cnn", 300, 0.66, best_epoch=250), "cnn_noaug": record("cnn_noaug", 100, 0.58),
               "dnn": record("dnn", 1000, 0.40), "dnn_aug": record("dnn_aug", 1000, 0.38),
               "dlsvm_svm": record("dlsvm_svm", 200, 0.65), "dlsvm_softmax": record("dlsvm_softmax", 200, 0.63)}
    noaug_val = np.r_[np.linspace(2, 1, 10), np.linspace(1.05, 2, 90)]
    histories = {"cnn": history(300, falling, np.r_[falling[:210] - 0.1, falling[210:] + 0.1]),
                 "cnn_noaug": history(100, np.linspace(2, 0.2, 100), noaug_val),
                 "dnn": history(1000, 0.5, 1.6, accuracy=0.85), "dnn_aug": history(1000, 1.6, 1.5, accuracy=0.35),
                 "dlsvm_svm": history(200, 1, 1), "dlsvm_softmax": history(200, 1, 1)}
    names = list(data.CLASS_NAMES)
    matrix = pd.DataFrame(np.full((7, 7), 0.05), index=names, columns=names)
    for name, recall in zip(names, (0.5, 0.4, 0.3, 0.9, 0.45, 0.75, 0.6)):
        matrix.loc[name, name] = recall
    matrix.loc["sad", "neutral"] = 0.25
    faces = dict(zip(names, (467, 56, 528, 879, 594, 416, 626)))
    training = dict(zip(names, (3995, 436, 4097, 7215, 4830, 3171, 4965)))
    found = {"confusion": findings.confusion_finding(matrix, "test (PrivateTest)", faces, training),
                "saliency_regions": {"split": "test", "saliency": {"mouth": 0.3, "eyes": 0.2, "brows": 0.1},
                                     "area": {"mouth": 0.11, "eyes": 0.14, "brows": 0.11}},
                "filter_pairs": {"faces": 100, "similar": [1, 2], "similar_r": 0.95, "complementary": [3, 4],
                                 "complementary_r": -0.7, "pairs": 2016,
                                 "pairs_beyond": {"0.90": 1, "0.95": 1, "-0.50": 2}}}
    seeds = {"dlsvm_svm": {"43": record("dlsvm_svm", 200, 0.652), "44": record("dlsvm_svm", 200, 0.648)},
             "dlsvm_softmax": {"43": record("dlsvm_softmax", 200, 0.631), "44": record("dlsvm_softmax", 200, 0.629)}}
    for finding in found.values():
        finding[findings.MEASURED_ON] = findings.training_of(records["cnn"])
    return findings.Evidence(records, histories, found, seeds)


def verdicts(evidence: findings.Evidence) -> dict[str, str]:
    return {row["key"]: row["verdict"] for row in claims.evaluate(evidence)}


def test_every_claim_holds_on_a_run_that_supports_it_and_each_row_says_its_budget():
    rows = claims.evaluate(full_evidence())
    assert [r["key"] for r in rows] == [c.key for c in claims.CLAIMS]
    assert {r["key"]: r["verdict"] for r in rows} == dict.fromkeys(verdicts(full_evidence()), claims.HOLDS)
    assert all(r["budget"] and r["measured"] and r["number"] is not None for r in rows)
    assert rows[0]["budget"] == "CNN, augmentation: 300 of 300 epochs; CNN, no augmentation: 100 of 100 epochs"


@pytest.mark.parametrize("key, change", [
    ("augmentation", lambda e: rescore(e, "cnn", 0.55)),
    ("overfitting", lambda e: e.histories["cnn_noaug"].__setitem__("val_loss", np.linspace(2, 1, 100))),
    ("loss_crossing", lambda e: e.histories["cnn"].__setitem__("val_loss", e.histories["cnn"]["loss"] + 0.1)),
    ("dnn_fit", lambda e: e.histories["dnn_aug"].__setitem__("accuracy", 0.8)),
    ("cnn_vs_dnn", lambda e: rescore(e, "dnn_aug", 0.64)),
    ("easiest_hardest", lambda e: e.findings["confusion"]["recall"].update(disgust=0.1)),
    ("sad_neutral", lambda e: e.findings["confusion"]["matrix"]["sad"].update(neutral=0.1)),
    ("mouth", lambda e: e.findings["saliency_regions"]["saliency"].update(eyes=0.5)),
    ("filters", lambda e: e.findings["filter_pairs"].update(complementary_r=-0.1)),
    ("dlsvm", lambda e: [rescore(e, m, a) for m, a in (("dlsvm_svm", 0.55), ("dlsvm_softmax", 0.54))]),
    ("svm_head", lambda e: rescore(e, "dlsvm_softmax", 0.7)),
])
def test_a_verdict_follows_its_number(key, change):
    evidence = full_evidence()
    change(evidence)
    after = verdicts(evidence)
    assert after[key] == claims.FAILS
    # the augmentation claim compares the CNNs once the one without augmentation overfits; the seeds of DLSVM's
    # heads no longer set one apart from the other when one head moves
    dependent = {"overfitting": {"augmentation": claims.UNTESTABLE}, "dlsvm": {"svm_head": claims.TIED}}.get(key, {})
    assert {k: v for k, v in after.items() if v != claims.HOLDS and k != key} == dependent


def test_every_row_gives_its_interval_or_seed_spread_and_its_rule_with_the_margin():
    rows = {r["key"]: r for r in claims.evaluate(full_evidence())}
    for key in ("augmentation", "cnn_vs_dnn", "svm_head", "dlsvm", "sad_neutral", "easiest_hardest"):
        low, high = rows[key]["interval"]
        assert low <= rows[key]["number"] <= high or key in ("easiest_hardest",)
    assert rows["svm_head"]["seeds"]["dlsvm_svm"]["values"] == [0.65, 0.652, 0.648]
    assert rows["dlsvm"]["seeds"]["sd"] == pytest.approx(0.002)
    assert rows["filters"]["threshold"] == ('"near copies": from 0.90; met by 0.05; "complementary": up to -0.50; '
                                            'met by 0.20')
    assert rows["sad_neutral"]["margin"] == pytest.approx(0.05)
    assert "McNemar p" in rows["augmentation"]["measured"]


def test_a_comparison_whose_paired_interval_includes_zero_never_holds():
    """Synthetic outcomes: two models that differ on few faces, at random; whenever the paired interval of their
    difference includes zero the claim is not "holds", and where it excludes zero on the claimed side it is."""
    rng = np.random.default_rng(0)
    seen = set()
    for trial in range(10):
        evidence = full_evidence()
        base = rng.random(FACES) < 0.6
        for first, second in (("cnn", "cnn_noaug"), ("cnn", "dnn_aug"), ("dlsvm_svm", "dlsvm_softmax")):
            other = base ^ (rng.random(FACES) < rng.uniform(0.005, 0.1))
            rescore(evidence, first, other.mean(), other)
            rescore(evidence, second, base.mean(), base)
        rows = {r["key"]: r for r in claims.evaluate(evidence)}
        for key in ("augmentation", "cnn_vs_dnn", "svm_head"):
            low, high = rows[key]["interval"]
            assert (rows[key]["verdict"] == claims.TIED) == (low <= 0 <= high), rows[key]
            assert rows[key]["verdict"] != claims.HOLDS or low > 0
            seen.add("across zero" if low <= 0 <= high else "apart")
    assert seen == {"across zero", "apart"}


def test_a_head_ahead_by_less_than_its_seed_spread_cannot_be_told_apart():
    evidence = full_evidence()
    evidence.seeds["dlsvm_svm"]["43"] = record("dlsvm_svm", 200, 0.60)  # one seed of the SVM head falls 5 points
    row = {r["key"]: r for r in claims.evaluate(evidence)}["svm_head"]
    assert row["verdict"] == claims.TIED and "spread of one head across seeds" in row["why"]


def test_every_verdict_but_holds_gives_its_reason_and_the_disagreements_their_experiment():
    evidence = full_evidence()
    evidence.findings["confusion"]["recall"].update(disgust=0.1)
    evidence.findings["filter_pairs"].update(similar_r=0.84)
    evidence.histories["cnn"]["val_loss"] = evidence.histories["cnn"]["loss"] + 0.1
    rows = {r["key"]: r for r in claims.evaluate(evidence)}
    assert all(r["why"] for r in rows.values() if r["verdict"] != claims.HOLDS)
    assert "with disgust set aside, the hardest of the other five is fear" in rows["easiest_hardest"]["experiment"]
    assert "1 with r >= 0.90" in rows["filters"]["experiment"] and "missed by 0.06" in rows["filters"]["threshold"]
    assert "Keras 2" in rows["loss_crossing"]["why"] and rows["loss_crossing"]["experiment"]


def test_a_short_run_is_not_a_test_of_the_long_schedules_claims():
    evidence = full_evidence()
    evidence.histories["cnn"] = evidence.histories["cnn"].iloc[:50]  # not crossed yet at 50 epochs
    evidence.histories["dnn_aug"] = evidence.histories["dnn_aug"].iloc[:40]
    evidence.records["dnn_aug"]["epochs"] = 40
    rows = {r["key"]: r for r in claims.evaluate(evidence)}
    assert rows["loss_crossing"]["verdict"] == claims.UNTESTABLE
    assert "the full profile tests it" in rows["loss_crossing"]["why"]
    assert "DNN, augmentation: 40 of 1000 epochs" in rows["dnn_fit"]["budget"]


def test_a_claim_on_a_model_the_run_lacks_or_a_notebook_that_has_not_run_is_not_testable():
    evidence = full_evidence()
    del evidence.records["dnn_aug"], evidence.findings["filter_pairs"]
    rows = {r["key"]: r for r in claims.evaluate(evidence)}
    assert rows["dnn_fit"]["verdict"] == claims.UNTESTABLE
    assert rows["dnn_fit"]["why"] == "not trained in this run: DNN, augmentation"
    assert rows["filters"]["verdict"] == claims.UNTESTABLE and "notebook 07" in rows["filters"]["why"]


def test_a_finding_of_an_earlier_training_is_not_judged():
    evidence = full_evidence()
    evidence.records["cnn"]["best_epoch"] = 240  # the CNN trained again: the findings measured the earlier one
    rows = {r["key"]: r for r in claims.evaluate(evidence)}
    for key in ("easiest_hardest", "sad_neutral", "mouth", "filters"):
        assert rows[key]["verdict"] == claims.UNTESTABLE and "measured another training" in rows[key]["why"]
    assert rows["augmentation"]["verdict"] == claims.HOLDS


def test_findings_are_merged_atomically(tmp_path):
    findings.record_finding(tmp_path, "a", {"x": 1})
    findings.record_finding(tmp_path, "b", [1, 2])
    findings.record_finding(tmp_path, "a", 3)
    assert json.loads((tmp_path / findings.FINDINGS_FILE).read_text()) == {"a": 3, "b": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == [findings.FINDINGS_FILE]


def test_the_committed_reference_run_carries_its_computed_claims():
    """report/claims.json has one row per claim, each with a number and a verdict, and is exactly what the
    committed results, histories and findings give."""
    committed = json.loads((REFERENCE / claims.CLAIMS_FILE).read_text())
    assert [r["key"] for r in committed] == [c.key for c in claims.CLAIMS]
    assert all(r["verdict"] in claims.VERDICTS and r["number"] is not None for r in committed)
    assert committed == claims.evaluate(findings.Evidence.of_reference(REFERENCE))
    assert set(registry.MODELS) >= {m for c in claims.CLAIMS for m in c.models}
