"""The claims table: verdicts follow the numbers (change a number and the verdict changes), a claim that needs the
report's schedule says so at a smaller budget, and the committed reference run's claims.json is what its results
give, not typed in."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fer_utils import claims, config, data, registry

REFERENCE = config.PROJECT_ROOT / "reference"


def history(epochs: int, loss, val_loss, accuracy=0.5) -> pd.DataFrame:
    return pd.DataFrame({"epoch": range(1, epochs + 1), "loss": loss, "accuracy": accuracy, "val_loss": val_loss,
                         "val_accuracy": np.linspace(0.3, 0.6, epochs), "lr": 1e-3, "seconds": 1.0})


def record(name: str, epochs: int, accuracy: float, best_epoch: int | None = None) -> dict:
    split = {"accuracy": accuracy, "flip_accuracy": accuracy, "views": "mirror", "views_accuracy": accuracy}
    params = {"cnn": 1_703_623, "cnn_noaug": 1_703_623, "dnn": 1_974_791}.get(name, 1000)
    return {"model": name, "epochs": epochs, "best_epoch": best_epoch or epochs, "trainable_parameters": params,
            "val": split, "test": split}


def full_evidence() -> claims.Evidence:
    """A run at the report's budget where every claim holds."""
    falling = np.linspace(2, 1, 300)
    records = {"cnn": record("cnn", 300, 0.66, best_epoch=250), "cnn_noaug": record("cnn_noaug", 100, 0.58),
               "dnn": record("dnn", 1000, 0.40), "dlsvm_svm": record("dlsvm_svm", 200, 0.65),
               "dlsvm_softmax": record("dlsvm_softmax", 200, 0.63)}
    noaug_val = np.r_[np.linspace(2, 1, 10), np.linspace(1.05, 2, 90)]
    histories = {"cnn": history(300, falling, np.r_[falling[:210] - 0.1, falling[210:] + 0.1]),
                 "cnn_noaug": history(100, np.linspace(2, 0.2, 100), noaug_val),
                 "dnn": history(1000, 1.5, 1.6, accuracy=0.35), "dlsvm_svm": history(200, 1, 1),
                 "dlsvm_softmax": history(200, 1, 1)}
    names = list(data.CLASS_NAMES)
    matrix = pd.DataFrame(np.full((7, 7), 0.05), index=names, columns=names)
    for name, recall in zip(names, (0.5, 0.4, 0.3, 0.9, 0.45, 0.75, 0.6)):
        matrix.loc[name, name] = recall
    matrix.loc["sad", "neutral"] = 0.25
    findings = {"confusion": claims.confusion_finding(matrix, "test (PrivateTest)"),
                "saliency_regions": {"split": "test", "saliency": {"mouth": 0.3, "eyes": 0.2, "brows": 0.1},
                                     "area": {"mouth": 0.11, "eyes": 0.14, "brows": 0.11}},
                "filter_pairs": {"faces": 100, "similar": [1, 2], "similar_r": 0.95, "complementary": [3, 4],
                                 "complementary_r": -0.7}}
    return claims.Evidence(records, histories, findings)


def verdicts(evidence: claims.Evidence) -> dict[str, str]:
    return {row["key"]: row["verdict"] for row in claims.evaluate(evidence)}


def test_every_claim_holds_on_a_run_that_supports_it_and_each_row_says_its_budget():
    rows = claims.evaluate(full_evidence())
    assert [r["key"] for r in rows] == [c.key for c in claims.CLAIMS]
    assert {r["key"]: r["verdict"] for r in rows} == dict.fromkeys(verdicts(full_evidence()), claims.HOLDS)
    assert all(r["budget"] and r["measured"] and r["number"] is not None for r in rows)
    assert rows[0]["budget"] == "CNN, augmentation: 300 of 300 epochs; CNN, no augmentation: 100 of 100 epochs"


@pytest.mark.parametrize("key, change", [
    ("augmentation", lambda e: e.records["cnn"]["test"].update(views_accuracy=0.58)),
    ("overfitting", lambda e: e.histories["cnn_noaug"].__setitem__("val_loss", np.linspace(2, 1, 100))),
    ("loss_crossing", lambda e: e.histories["cnn"].__setitem__("val_loss", e.histories["cnn"]["loss"] + 0.1)),
    ("dnn_fit", lambda e: e.histories["dnn"].__setitem__("accuracy", 0.8)),
    ("cnn_vs_dnn", lambda e: e.records["dnn"]["test"].update(views_accuracy=0.64)),
    ("easiest_hardest", lambda e: e.findings["confusion"]["recall"].update(disgust=0.1)),
    ("sad_neutral", lambda e: e.findings["confusion"]["matrix"]["sad"].update(neutral=0.1)),
    ("mouth", lambda e: e.findings["saliency_regions"]["saliency"].update(eyes=0.5)),
    ("filters", lambda e: e.findings["filter_pairs"].update(complementary_r=-0.1)),
    ("dlsvm", lambda e: [e.records[m]["test"].update(views_accuracy=a) for m, a in (("dlsvm_svm", 0.55),
                                                                                      ("dlsvm_softmax", 0.54))]),
    ("svm_head", lambda e: e.records["dlsvm_softmax"]["test"].update(views_accuracy=0.7)),
])
def test_a_verdict_follows_its_number(key, change):
    evidence = full_evidence()
    change(evidence)
    after = verdicts(evidence)
    assert after[key] == claims.FAILS
    # the augmentation claim compares the CNNs once the one without augmentation overfits
    dependent = {"overfitting": {"augmentation": claims.UNTESTABLE}}.get(key, {})
    assert {k: v for k, v in after.items() if v != claims.HOLDS and k != key} == dependent


def test_a_short_run_is_not_a_test_of_the_long_schedules_claims():
    evidence = full_evidence()
    evidence.histories["cnn"] = evidence.histories["cnn"].iloc[:50]  # not crossed yet at 50 epochs
    evidence.histories["dnn"] = evidence.histories["dnn"].iloc[:40]
    evidence.records["dnn"]["epochs"] = 40
    rows = {r["key"]: r for r in claims.evaluate(evidence)}
    for key in ("loss_crossing", "dnn_fit"):
        assert rows[key]["verdict"] == claims.UNTESTABLE and "the full profile tests it" in rows[key]["why"]
    assert "DNN: 40 of 1000 epochs" in rows["dnn_fit"]["budget"]


def test_a_claim_on_a_model_the_run_lacks_or_a_notebook_that_has_not_run_is_not_testable():
    evidence = full_evidence()
    del evidence.records["dnn"], evidence.findings["filter_pairs"]
    rows = {r["key"]: r for r in claims.evaluate(evidence)}
    assert rows["dnn_fit"]["verdict"] == claims.UNTESTABLE and rows["dnn_fit"]["why"] == "not trained in this run: DNN"
    assert rows["filters"]["verdict"] == claims.UNTESTABLE and "notebook 07" in rows["filters"]["why"]


def test_findings_are_merged_atomically(tmp_path):
    claims.record_finding(tmp_path, "a", {"x": 1})
    claims.record_finding(tmp_path, "b", [1, 2])
    claims.record_finding(tmp_path, "a", 3)
    assert json.loads((tmp_path / claims.FINDINGS_FILE).read_text()) == {"a": 3, "b": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == [claims.FINDINGS_FILE]


def test_the_committed_reference_run_carries_its_computed_claims():
    """report/claims.json has one row per claim, each with a number and a verdict, and is exactly what the
    committed results, histories and findings give."""
    committed = json.loads((REFERENCE / claims.CLAIMS_FILE).read_text())
    assert [r["key"] for r in committed] == [c.key for c in claims.CLAIMS]
    assert all(r["verdict"] in claims.VERDICTS and r["number"] is not None for r in committed)
    assert committed == claims.evaluate(claims.Evidence.of_reference(REFERENCE))
    assert set(registry.MODELS) >= {m for c in claims.CLAIMS for m in c.models}
