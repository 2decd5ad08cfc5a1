"""The seed report's claims checked against a run: for each, the number this run measured, the budget it was
measured at, and a verdict computed from the run's results records, training histories and the findings its
notebooks recorded (`record_finding`), never typed in. Written as claims.json beside the run's results and shown
first in its HTML report."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from . import atomic, config, registry, results
from .history import history_csv, read_history

CLAIMS_FILE = "claims.json"  # beside a run's results.json, in its report and in the committed reference run
FINDINGS_FILE = "findings.json"  # in a run folder: what notebooks measured for the claims
HOLDS, FAILS, UNTESTABLE = "holds", "does not hold", "not testable at this budget"
VERDICTS = (HOLDS, FAILS, UNTESTABLE)
TRAINED_ENOUGH = 10  # epochs below which a model's accuracy says nothing about the report's claims on it


def record_finding(run_root: str | os.PathLike, key: str, value) -> Path:
    """Add (or replace) one measurement under `key` in the run's findings.json."""
    path = Path(run_root) / FINDINGS_FILE
    found = json.loads(path.read_text()) if path.exists() else {}
    found[key] = value
    return atomic.write_json(path, found)


def confusion_finding(matrix: pd.DataFrame, split: str) -> dict:
    """What the claims need of a row-normalised confusion matrix (`fer_utils.evaluation.confusion`): the matrix
    (true -> predicted -> share), each class's recall, and the split it was measured on."""
    return {"split": split, "matrix": matrix.to_dict(orient="index"),
            "recall": {name: float(matrix.loc[name, name]) for name in matrix.index}}


@dataclass
class Evidence:
    """What a run measured: results records and histories by model name, the notebooks' findings, and the
    profile's epochs per model (from the records' training settings)."""

    records: dict[str, dict]
    histories: dict[str, pd.DataFrame]
    findings: dict

    @classmethod
    def of_run(cls, run_root: str | os.PathLike) -> "Evidence":
        """A run folder's evidence (models/<name>/results.json and history.csv, findings.json)."""
        run = config.RunPaths(Path(run_root))
        records = results.collect(run.root)
        return cls(records, {n: read_history(run.model(n)) for n in records}, _findings(run.root))

    @classmethod
    def of_reference(cls, folder: str | os.PathLike) -> "Evidence":
        """A committed reference run's evidence (results.json, histories/<name>.csv, findings.json)."""
        folder = Path(folder)
        records = json.loads((folder / results.RESULTS_FILE).read_text())["models"]
        return cls(records, {n: history_csv(folder / "histories" / f"{n}.csv") for n in records}, _findings(folder))

    def epochs(self, name: str) -> int:
        return int(self.records[name]["epochs"]) if name in self.records else 0

    def accuracy(self, name: str) -> float:
        """The test accuracy of `name` with the views chosen on val (val where the run has no test split)."""
        record = self.records[name]
        return record.get("test", record["val"])["views_accuracy"]


def _findings(folder: Path) -> dict:
    path = folder / FINDINGS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


@dataclass(frozen=True)
class Claim:
    """One claim of the report: its words, the notebook that tests it, the models it needs, the finding that
    notebook records for it (if any), and its check (evidence -> verdict, number, what was measured in words, why
    when not testable)."""

    key: str
    text: str
    notebook: str
    models: tuple[str, ...]
    check: Callable[[Evidence], tuple[str, float | None, str, str]]
    finding: str | None = None


def _report_epochs(name: str) -> int:
    """The epochs the report trains `name` for: the full profile's."""
    return int(config.load_profile("full")[registry.get(name).epochs_key])


def _needs(name: str, epochs: int) -> str:
    return f"needs {epochs} epochs of {registry.label(name)}: the full profile tests it"


def _augmentation_necessary(e: Evidence):
    onset = results.overfitting_onset(e.histories["cnn_noaug"])
    gain = e.accuracy("cnn") - e.accuracy("cnn_noaug")
    said = f"{results.points(gain)} with augmentation ({e.accuracy('cnn'):.1%} against {e.accuracy('cnn_noaug'):.1%})"
    if min(e.epochs("cnn"), e.epochs("cnn_noaug")) < TRAINED_ENOUGH or onset is None:
        return UNTESTABLE, gain, said, "the CNN without augmentation has not begun to overfit yet"
    if gain >= 0.01:
        return HOLDS, gain, said, ""
    cnn, report = e.records["cnn"], _report_epochs("cnn")
    if cnn["best_epoch"] > 0.9 * cnn["epochs"] and cnn["epochs"] < report:
        return UNTESTABLE, gain, said, (f"the CNN with augmentation still improves at its last epoch; "
                                        f"{_needs('cnn', report)}")
    return FAILS, gain, said, ""


def _overfits_early(e: Evidence):
    history = e.histories["cnn_noaug"]
    onset = results.overfitting_onset(history)
    said = f"val loss lowest at epoch {onset}, train loss falling after it" if onset else \
        f"val loss still falling at epoch {len(history)}"
    if len(history) < 15:
        return UNTESTABLE, onset, said, "needs at least 15 epochs to see the curve turn near epoch 10"
    return (HOLDS if onset is not None and 5 <= onset <= 15 else FAILS), onset, said, ""


def _dnn_hardly_fits(e: Evidence):
    fitted = float(e.histories["dnn"]["accuracy"].iloc[-1])
    said = f"training accuracy {fitted:.1%} after {e.epochs('dnn')} epochs"
    if fitted >= 0.5:
        return FAILS, fitted, said, ""
    if e.epochs("dnn") < 1000:
        return UNTESTABLE, fitted, said, _needs("dnn", 1000)
    return HOLDS, fitted, said, ""


def _loss_crossing(e: Evidence):
    history = e.histories["cnn"]
    crossing = results.loss_crossing(history)
    said = f"training loss below val loss from epoch {crossing} on" if crossing else \
        f"training loss not lastingly below val loss in {len(history)} epochs"
    if crossing is not None and crossing < 160:
        return FAILS, crossing, said, ""
    if crossing is None and len(history) < 260:
        return UNTESTABLE, None, said, _needs("cnn", _report_epochs("cnn"))
    return (HOLDS if crossing is not None and crossing <= 260 else FAILS), crossing, said, ""


def _cnn_beats_dnn(e: Evidence):
    gain = e.accuracy("cnn") - e.accuracy("dnn")
    fewer = e.records["cnn"]["trainable_parameters"] < e.records["dnn"]["trainable_parameters"]
    said = (f"{results.points(gain)} for the CNN ({e.records['cnn']['trainable_parameters']:,} parameters against "
            f"{e.records['dnn']['trainable_parameters']:,})")
    if min(e.epochs("cnn"), e.epochs("dnn")) < TRAINED_ENOUGH:
        return UNTESTABLE, gain, said, f"needs at least {TRAINED_ENOUGH} epochs of each"
    return (HOLDS if gain >= 0.05 and fewer else FAILS), gain, said, ""


def _on_the_cnn(e: Evidence, holds: bool, number: float, said: str):
    """The verdict of a claim about what the trained CNN does: not testable while it is barely trained."""
    if e.epochs("cnn") < TRAINED_ENOUGH:
        return UNTESTABLE, number, said, f"needs at least {TRAINED_ENOUGH} epochs of the CNN"
    return (HOLDS if holds else FAILS), number, said, ""


def _easiest_and_hardest(e: Evidence):
    found = e.findings["confusion"]
    recall = found["recall"]
    easiest, hardest = max(recall, key=recall.get), min(recall, key=recall.get)
    said = (f"easiest {easiest} ({recall[easiest]:.1%}), hardest {hardest} ({recall[hardest]:.1%}); "
            f"fear {recall['fear']:.1%} on {found['split']}")
    return _on_the_cnn(e, (easiest, hardest) == ("happy", "fear"), recall["happy"], said)


def _sad_as_neutral(e: Evidence):
    found = e.findings["confusion"]
    share = found["matrix"]["sad"]["neutral"]
    said = f"{share:.1%} of sad faces predicted neutral on {found['split']}"
    return _on_the_cnn(e, 0.2 <= share <= 0.3, share, said)


def _mouth_saliency(e: Evidence):
    found = e.findings["saliency_regions"]
    shares = found["saliency"]
    ranked = sorted(shares, key=shares.get, reverse=True)
    said = f"{ranked[0]} {shares[ranked[0]]:.0%} of the saliency on {found['area'][ranked[0]]:.0%} of the face; " + \
        "; ".join(f"{r} {shares[r]:.0%} on {found['area'][r]:.0%}" for r in ranked[1:])
    return _on_the_cnn(e, ranked[0] == "mouth", shares["mouth"], said)


def _filters_copies_and_complements(e: Evidence):
    found = e.findings["filter_pairs"]
    similar, complementary = found["similar_r"], found["complementary_r"]
    said = (f"most alike filters {found['similar'][0]} and {found['similar'][1]} (r = {similar:.2f}), most "
            f"complementary {found['complementary'][0]} and {found['complementary'][1]} (r = {complementary:.2f})")
    return _on_the_cnn(e, similar >= 0.9 and complementary <= -0.5, similar, said)


def _dlsvm_accuracy(e: Evidence):
    accuracy = e.accuracy("dlsvm_svm")
    said = f"{accuracy:.1%} after {e.epochs('dlsvm_svm')} epochs"
    if accuracy >= 0.62:
        return HOLDS, accuracy, said, ""
    report = _report_epochs("dlsvm_svm")
    if e.epochs("dlsvm_svm") < report:
        return UNTESTABLE, accuracy, said, _needs("dlsvm_svm", report)
    return FAILS, accuracy, said, ""


def _svm_beats_softmax(e: Evidence):
    gain = e.accuracy("dlsvm_svm") - e.accuracy("dlsvm_softmax")
    said = f"{results.points(gain)} for the L2-SVM head over the softmax head"
    if min(e.epochs("dlsvm_svm"), e.epochs("dlsvm_softmax")) < TRAINED_ENOUGH:
        return UNTESTABLE, gain, said, f"needs at least {TRAINED_ENOUGH} epochs of each head"
    return (HOLDS if gain > 0 else FAILS), gain, said, ""


CLAIMS = (
    Claim("augmentation", "Augmentation is necessary: the CNN does better with it", "03_augmentation_ablation",
          ("cnn", "cnn_noaug"), _augmentation_necessary),
    Claim("overfitting", "Without augmentation the CNN overfits from about epoch 10", "03_augmentation_ablation",
          ("cnn_noaug",), _overfits_early),
    Claim("loss_crossing", "The CNN's training loss falls below its val loss from about epoch 210",
          "02_cnn_training", ("cnn",), _loss_crossing),
    Claim("dnn_fit", "The DNN can hardly fit the training faces, even after 1000 epochs", "04_dnn", ("dnn",),
          _dnn_hardly_fits),
    Claim("cnn_vs_dnn", "The CNN does much better than the DNN with fewer parameters", "04_dnn", ("cnn", "dnn"),
          _cnn_beats_dnn),
    Claim("easiest_hardest", "Happy is the easiest expression and fear the hardest", "05_confusion_matrix",
          ("cnn",), _easiest_and_hardest, finding="confusion"),
    Claim("sad_neutral", "About a quarter of sad faces are taken for neutral", "05_confusion_matrix", ("cnn",),
          _sad_as_neutral, finding="confusion"),
    Claim("mouth", "The mouth carries most of the saliency", "06_saliency", ("cnn",), _mouth_saliency,
          finding="saliency_regions"),
    Claim("filters", "Some conv2 filters are near copies of each other and some complementary", "07_filters",
          ("cnn",), _filters_copies_and_complements, finding="filter_pairs"),
    Claim("dlsvm", "DLSVM reaches about 65%", "08_dlsvm", ("dlsvm_svm",), _dlsvm_accuracy),
    Claim("svm_head", "Tang: the L2-SVM objective does better than softmax on the same network", "08_dlsvm",
          ("dlsvm_svm", "dlsvm_softmax"), _svm_beats_softmax),
)


def evaluate(evidence: Evidence) -> list[dict]:
    """One row per claim, in the report's order: claim, notebook, measured (words), number, budget (epochs of
    each model it rests on, against the report's), verdict (one of VERDICTS), why (for a claim not testable)."""
    rows = []
    for claim in CLAIMS:
        row = {"key": claim.key, "claim": claim.text, "notebook": claim.notebook}
        missing = [m for m in claim.models if m not in evidence.records]
        if missing:
            row.update(measured="", number=None, budget="", verdict=UNTESTABLE,
                       why=f"not trained in this run: {', '.join(registry.label(m) for m in missing)}")
            rows.append(row)
            continue
        if claim.finding is not None and claim.finding not in evidence.findings:
            verdict, number, measured, why = UNTESTABLE, None, "", f"notebook {claim.notebook[:2]} has not run"
        else:
            verdict, number, measured, why = claim.check(evidence)
        row.update(measured=measured, number=None if number is None else round(float(number), 4),
                   budget="; ".join(f"{registry.label(m)}: {evidence.epochs(m)} of {_report_epochs(m)} epochs"
                                    for m in claim.models),
                   verdict=verdict, why=why)
        rows.append(row)
    return rows


def write(folder: str | os.PathLike, rows: list[dict]) -> Path:
    return atomic.write_json(Path(folder) / CLAIMS_FILE, rows)


def table(rows: list[dict]) -> pd.DataFrame:
    """The claims as the report shows them: claim, this run's measurement, budget, verdict (with why)."""
    return pd.DataFrame([{"claim": r["claim"], "this run": r["measured"], "budget": r["budget"],
                          "verdict": r["verdict"] + (f" ({r['why']})" if r["why"] else "")} for r in rows])


def markdown(rows: list[dict]) -> str:
    """The claims as a Markdown table (for the README): claim, this run, budget, verdict."""
    shown = table(rows)
    lines = ["| " + " | ".join(shown.columns) + " |", "|---" * len(shown.columns) + "|"]
    lines += ["| " + " | ".join(str(v).replace("|", "/") for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join(lines) + "\n"
