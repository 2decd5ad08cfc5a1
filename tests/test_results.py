"""Results records and their tables: where overfitting starts, the chosen views and the published anchors, an
interval on every accuracy, and cells that read as percentages, counts and blanks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fer_utils import results


def test_overfitting_onset_from_the_curves():
    falling = pd.DataFrame({"epoch": [1, 2, 3, 4, 5], "loss": [2.0, 1.5, 1.2, 1.0, 0.8],
                            "val_loss": [1.9, 1.6, 1.4, 1.5, 1.7]})
    assert results.overfitting_onset(falling) == 3
    still_improving = falling.assign(val_loss=[1.9, 1.7, 1.5, 1.4, 1.3])
    assert results.overfitting_onset(still_improving) is None


def test_results_table_with_chosen_views_and_published_anchors():
    e = results.record("dlsvm_svm", trainable_parameters=5, epochs=3, best_epoch=2, training_seconds=120,
                       splits={"val": {"accuracy": 0.5, "views": "mirror x 5 crops", "views_accuracy": 0.55,
                                       "view_sets": {"plain": 0.5, "mirror x 5 crops": 0.55}},
                               "test": {"accuracy": 0.4, "flip_accuracy": 0.45, "views": "mirror x 5 crops",
                                        "views_accuracy": 0.47}})
    table = results.table([e])
    assert table.loc["DLSVM, L2-SVM head", "test accuracy, chosen views"] == 0.47
    assert table.loc["DLSVM, L2-SVM head", results.VIEWS_COLUMN] == "mirror x 5 crops"
    assert results.formatted(table).loc["DLSVM, L2-SVM head", results.VIEWS_COLUMN] == "mirror x 5 crops"
    assert list(results.formatted(table).columns)[-2:] == ["training minutes", results.SELECTED_COLUMN]
    assert table.loc["DLSVM, L2-SVM head", "training minutes"] == 2
    both = results.table([e], anchors=["tang"])
    assert both.loc["DLSVM, Tang 2013 (challenge winner)", "test accuracy"] == pytest.approx(0.7116)
    assert both[results.SELECTED_COLUMN].tolist() == ["val (PublicTest)", "the public leaderboard; PrivateTest hidden"]
    assert both["epochs"].dtype == "Int64" and pd.isna(both["epochs"].iloc[-1])
    views = results.views_table([e])
    assert list(results.formatted(views).columns) == [
        "val accuracy, plain", "val accuracy, mirror x 5 crops", "chosen on val", "test accuracy",
        "test accuracy, mirror", "test accuracy, chosen views"]
    assert results.points(0.7116 - 0.65) == "+6.2 points" and results.points(-0.02) == "-2.0 points"
    assert results.points(-0.0003) == "-0.03 points" and results.points(0.0) == "+0.0 points"


def test_every_accuracy_of_a_table_carries_its_interval_over_the_faces():
    splits = {s: {"accuracy": 0.633, "flip_accuracy": 0.64, "views": "mirror", "views_accuracy": 0.633}
              for s in ("val", "test")}
    outputs = {s: np.eye(7)[np.r_[np.zeros(633, int), np.ones(367, int)]] for s in splits}
    labels = {s: np.zeros(1000, int) for s in splits}
    e = results.record("cnn", trainable_parameters=5, epochs=3, best_epoch=2, training_seconds=60,
                       splits=results.per_face(splits, outputs, labels))
    assert e["test"]["faces"] == 1000 and results.correct(e).sum() == 633
    low, high = e["test"]["intervals"]["views_accuracy"]
    assert low < 0.633 < high and high - low == pytest.approx(0.06, abs=0.002)  # about +-3 points on 1,000 faces
    shown = results.formatted(results.table([e], anchors=["tang"]))
    assert shown.loc["CNN, augmentation", "test accuracy, chosen views"] == "63.3% (60.3-66.2%)"
    assert shown.loc["CNN, augmentation", "best val accuracy"].endswith("%)")
    assert shown.loc["DLSVM, Tang 2013 (challenge winner)", "test accuracy"] == "71.2%"  # a published number alone
    with pytest.raises(ValueError, match="another training"):  # outputs that do not give the record's accuracy
        results.per_face(splits, {s: np.eye(7)[np.zeros(1000, int)] for s in splits}, labels)


def test_tables_read_as_percentages_counts_and_blanks():
    from tests.browser import unreadable

    frame = pd.DataFrame({"val accuracy": [0.61234, np.nan], "faces": [1703623.0, 12.0], "loss": [0.95123, 1.2],
                          "lr": [0.000659, 0.001], "views": ["mirror", None], "share": [0.25, 0.5]},
                         index=["a", "b"]).astype({"faces": "Int64"})
    shown = results.readable(frame, percent=("share",), formats={"lr": "{:.2e}"})
    assert shown.loc["a"].tolist() == ["61.2%", "1,703,623", "0.951", "6.59e-04", "mirror", "25.0%"]
    assert shown.loc["b"].tolist() == ["", "12", "1.200", "1.00e-03", "", "50.0%"]
    history = pd.DataFrame({"epoch": [1, 2], "loss": [1.5, 1.25], "accuracy": [0.3, 0.41], "val_loss": [1.6, 1.4],
                            "val_accuracy": [0.32, 0.4], "lr": [1e-3, 9.9e-4], "seconds": [12.34, 11.0]})
    table = results.history_table(history)
    assert table.loc[2].tolist() == ["1.250", "41.0%", "1.400", "40.0%", "9.90e-04", "11.0"]
    assert not unreadable([*shown.to_numpy().ravel(), *table.to_numpy().ravel()])
    assert unreadable(["NaN", "<NA>", "0.123456", "61.2%"]) == ["NaN", "<NA>", "0.123456"]


def test_goals_take_the_single_network_chosen_on_val_not_the_best_on_test():
    def trained(name, parameters, val, test):
        return results.record(name, trainable_parameters=parameters, epochs=3, best_epoch=2, training_seconds=60,
                              splits={"val": {"views_accuracy": val, "views": "mirror"},
                                      "test": {"views_accuracy": test, "views": "mirror"}})

    models = {"cnn": trained("cnn", 1_703_623, 0.62, 0.63), "cnn_tuned": trained("cnn_tuned", 1_703_623, 0.67, 0.687),
              "dlsvm_svm": trained("dlsvm_svm", 5_008_295, 0.70, 0.72)}  # more accurate, but not the report's size
    seeds = {"cnn_tuned": {"43": trained("cnn_tuned", 1_703_623, 0.666, 0.705)}}  # best on test, not on val
    standing = results.goals(models, seeds, {"val": 0.68, "test": 0.7116})
    single = standing["single_network"]
    assert (single["model"], single["test"], single["reached"]) == ("cnn_tuned", 0.687, False)
    assert single["points_to_goal"] == 1.3 and single["candidates"] == ["cnn", "cnn_tuned", "cnn_tuned-seed43"]
    assert standing["ensemble"]["reached"] and standing["ensemble"]["points_to_goal"] == 0.0
    assert results.goals_text(standing) == (
        "The ensemble scores 71.2% on test (PrivateTest): reached, +0.0 points over Tang's 71.16%. Of the 3 trainings "
        "with the report's 1,703,623 parameters, the most accurate on val (PublicTest) is CNN, tuned recipe, 67.0% on "
        "val; it scores 68.7% on test with mirror: 1.3 points short of 70%.")
    seeds["cnn_tuned"]["43"]["val"]["views_accuracy"] = 0.671
    assert results.goals(models, seeds, None) == {"single_network": {**single, "model": "cnn_tuned-seed43", "val": 0.671,
                                                                     "test": 0.705, "reached": True,
                                                                     "points_to_goal": -0.5}}
    assert results.goals({"dnn": trained("dnn", 5, 0.4, 0.4)}, {}, {"val": 0.6, "test": None}) == {}
