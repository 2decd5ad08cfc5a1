"""The seed report's claims checked against a run: for each, the number this run measured, the budget it was
measured at, and a verdict computed from the run's results records, training histories and the findings its
notebooks recorded (`record_finding`), never typed in. Written as claims.json beside the run's results and shown
first in its HTML report."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from . import atomic, profiles, registry, results, uncertainty
from .findings import MEASURED_ON, Evidence, training_of
from .thresholds import THRESHOLDS, Threshold, rule_of

CLAIMS_FILE = "claims.json"  # beside a run's results.json, in its report and in the committed reference run
HOLDS, FAILS, UNTESTABLE = "holds", "does not hold", "not testable at this budget"
TIED = "cannot be told apart at this budget"  # a comparison whose paired interval includes zero
VERDICTS = (HOLDS, FAILS, UNTESTABLE, TIED)
TRAINED_ENOUGH = 10  # epochs below which a model's accuracy says nothing about the report's claims on it


@dataclass
class Verdict:
    """What a claim's check concludes: the verdict, the number it rests on and what was measured in words; the
    number's interval (or a comparison's) or its spread over seeds; the threshold that decided it with the
    margin; for any verdict but holds, the likeliest reason, and the experiment that tested it with its numbers."""

    verdict: str
    number: float | None
    measured: str
    why: str = ""
    interval: list[float] | None = None
    seeds: dict | None = None
    threshold: str = ""
    margin: float | None = None
    experiment: str = ""


@dataclass(frozen=True)
class Claim:
    """One claim of the report: its words, the notebook that tests it, the models it needs, the finding that
    notebook records for it (if any), and its check (evidence -> Verdict)."""

    key: str
    text: str
    notebook: str
    models: tuple[str, ...]
    check: Callable[[Evidence], Verdict]
    finding: str | None = None


def _report_epochs(name: str) -> int:
    """The epochs the report trains `name` for: the full profile's."""
    return int(profiles.load_profile("full")[registry.get(name).epochs_key])


def _needs(name: str, epochs: int) -> str:
    return f"needs {epochs} epochs of {registry.label(name)}: the full profile tests it"


def _on_split(e: Evidence, name: str) -> str:
    return f"{e.split(name)}, test-time views chosen on val"


def _compared(e: Evidence, first: str, second: str, said: str, threshold: Threshold | None = None) -> Verdict:
    """A claim that `first` does better than `second` (by at least `threshold`, where one is declared), judged by
    the paired comparison on the same faces: holds only where its interval excludes zero on the claimed side;
    an interval across zero cannot tell the two apart."""
    c = e.compare(first, second)
    gain = e.accuracy(first) - e.accuracy(second)
    if c is None:
        return Verdict(UNTESTABLE, gain, said, "the results hold no per-face outcomes to compare: evaluate again")
    said += f" ({_on_split(e, first)}; {uncertainty.comparison_text(c)})"
    shown = {"interval": c["interval"], **(rule_of(threshold, gain) if threshold else {
        "threshold": "better: the paired 95% interval of the difference lies above zero"})}
    if not uncertainty.separated(c):
        return Verdict(TIED, gain, said, f"the paired 95% interval ({uncertainty.points_interval(*c['interval'])}) "
                                         f"includes zero", **shown)
    if gain < 0:
        return Verdict(FAILS, gain, said, f"{registry.label(second)} is ahead and the interval excludes zero", **shown)
    if threshold is not None and not threshold.met(gain):
        return Verdict(FAILS, gain, said, f"ahead, but by less than {threshold.describe()}", **shown)
    return Verdict(HOLDS, gain, said, **shown)


def _augmentation_necessary(e: Evidence) -> Verdict:
    onset = results.overfitting_onset(e.histories["cnn_noaug"])
    gain = e.accuracy("cnn") - e.accuracy("cnn_noaug")
    said = f"{results.points(gain)} with augmentation ({e.accuracy('cnn'):.1%} against {e.accuracy('cnn_noaug'):.1%})"
    verdict = _compared(e, "cnn", "cnn_noaug", said)
    if min(e.epochs("cnn"), e.epochs("cnn_noaug")) < TRAINED_ENOUGH or onset is None:
        verdict.verdict, verdict.why = UNTESTABLE, "the CNN without augmentation has not begun to overfit yet"
        return verdict
    cnn, report = e.records["cnn"], _report_epochs("cnn")
    if verdict.verdict != HOLDS:
        split = e.split("cnn")
        plain = {n: e.records[n][split]["accuracy"] for n in ("cnn", "cnn_noaug")}
        still = cnn["best_epoch"] > 0.9 * cnn["epochs"] and cnn["epochs"] < report
        verdict.why += (f"; the CNN with augmentation still improves at its last epoch (best epoch "
                        f"{cnn['best_epoch']} of {cnn['epochs']}) while the one without peaked at epoch "
                        f"{e.records['cnn_noaug']['best_epoch']}: {_needs('cnn', report)}" if still else "")
        verdict.experiment = (f"without test-time views (plain accuracy on {split}) the order is "
                              f"{'the same' if (plain['cnn'] > plain['cnn_noaug']) == (gain > 0) else 'reversed'}: "
                              f"{plain['cnn']:.1%} with augmentation against {plain['cnn_noaug']:.1%} without "
                              f"({results.points(plain['cnn'] - plain['cnn_noaug'])})")
    return verdict


def _overfits_early(e: Evidence) -> Verdict:
    history, rule = e.histories["cnn_noaug"], THRESHOLDS["overfitting_onset"]
    onset = results.overfitting_onset(history)
    said = f"val loss lowest at epoch {onset}, train loss falling after it" if onset else \
        f"val loss still falling at epoch {len(history)}"
    if len(history) < 15:
        return Verdict(UNTESTABLE, onset, said, "needs at least 15 epochs to see the curve turn near epoch 10",
                       threshold=rule.describe())
    if onset is None:
        return Verdict(FAILS, None, said, "val loss has not turned within the epochs trained", threshold=rule.describe())
    return Verdict(HOLDS if rule.met(onset) else FAILS, onset, said,
                   "" if rule.met(onset) else f"the turn comes at epoch {onset}", **rule_of(rule, onset))


def _dnn_hardly_fits(e: Evidence) -> Verdict:
    """The report's words: "even after 1000 epochs, the training loss and accuracy still can hardly catch up with
    validation": training worse than validation, as on augmented faces."""
    history = e.histories["dnn_aug"]
    last = history.iloc[-1]
    behind = (history["accuracy"] < history["val_accuracy"]) & (history["loss"] > history["val_loss"])
    gap = float(last["accuracy"] - last["val_accuracy"])
    said = (f"on augmented faces (the report's setup) after {len(history)} epochs: training accuracy "
            f"{last['accuracy']:.1%} against val {last['val_accuracy']:.1%}, training loss {last['loss']:.3f} against "
            f"{last['val_loss']:.3f}; training behind val in {int(behind.sum())} of {len(history)} epochs")
    if "dnn" in e.histories:
        plain = e.histories["dnn"].iloc[-1]
        said += (f". On plain faces (the DNN without augmentation) the opposite: training {plain['accuracy']:.1%} "
                 f"against val {plain['val_accuracy']:.1%}")
    if len(history) < TRAINED_ENOUGH:
        return Verdict(UNTESTABLE, gap, said, f"needs at least {TRAINED_ENOUGH} epochs")
    if bool(behind.iloc[-1]):
        return Verdict(HOLDS, gap, said, threshold="training accuracy below val accuracy and training loss above val "
                                                   "loss at the last epoch")
    return Verdict(FAILS, gap, said, "training has caught up with validation by the last epoch",
                   threshold="training accuracy below val accuracy and training loss above val loss at the last epoch")


def _loss_crossing(e: Evidence) -> Verdict:
    history, rule = e.histories["cnn"], THRESHOLDS["loss_crossing"]
    crossing = results.loss_crossing(history)
    said = f"training loss below val loss from epoch {crossing} on" if crossing else \
        f"training loss not lastingly below val loss in {len(history)} epochs"
    shown = rule_of(rule, crossing) if crossing is not None else {"threshold": rule.describe()}
    why = ("the augmentation differs: the report's Keras 2 ImageDataGenerator drew the x and y zoom independently "
           "(faces stretched, not only scaled) and applied its transforms in its own order and fill, a stronger "
           "distortion that keeps training loss above val loss longer; the project uses Keras 3's preprocessing "
           "layers with one zoom for both axes")
    experiment = _keras2_experiment(e)
    if crossing is not None and crossing < rule.low:
        return Verdict(FAILS, crossing, said, why, experiment=experiment, **shown)
    if crossing is None and len(history) < rule.high:
        return Verdict(UNTESTABLE, None, said, _needs("cnn", _report_epochs("cnn")), **shown)
    if crossing is not None and rule.met(crossing):
        return Verdict(HOLDS, crossing, said, **shown)
    return Verdict(FAILS, crossing, said, why, experiment=experiment, **shown)


def _keras2_experiment(e: Evidence) -> str:
    """What the CNN trained with Keras 2's augmentation says about the loss crossing, where the run has it."""
    if "cnn_keras2" not in e.histories:
        return ("not run in this run: its profile leaves out the CNN with Keras 2's augmentation "
                "(epochs_cnn_keras2: 0), a training as long as the CNN's own")
    history, rule = e.histories["cnn_keras2"], THRESHOLDS["loss_crossing"]
    crossing = results.loss_crossing(history)
    if crossing is not None and crossing < rule.low:
        found = f"training loss below val loss from epoch {crossing} on: the augmentation alone does not explain it"
    elif crossing is None:
        found = (f"training loss not lastingly below val loss in {len(history)} epochs, as in the report: the "
                 f"augmentation explains the early crossing")
    else:
        found = f"training loss below val loss from epoch {crossing} on, as in the report"
    return f"the CNN with Keras 2's augmentation ({len(history)} epochs): {found}"


def _cnn_beats_dnn(e: Evidence) -> Verdict:
    cnn, dnn = e.records["cnn"], e.records["dnn_aug"]
    said = (f"{results.points(e.accuracy('cnn') - e.accuracy('dnn_aug'))} for the CNN over the DNN on augmented faces "
            f"({e.accuracy('cnn'):.1%} against {e.accuracy('dnn_aug'):.1%}; {cnn['trainable_parameters']:,} "
            f"parameters against {dnn['trainable_parameters']:,})")
    verdict = _compared(e, "cnn", "dnn_aug", said, THRESHOLDS["much_better"])
    if "dnn" in e.records:
        verdict.measured += (f"; {results.points(e.accuracy('cnn') - e.accuracy('dnn'))} over the DNN without "
                             f"augmentation ({e.accuracy('dnn'):.1%})")
    if min(e.epochs("cnn"), e.epochs("dnn_aug")) < TRAINED_ENOUGH:
        verdict.verdict, verdict.why = UNTESTABLE, f"needs at least {TRAINED_ENOUGH} epochs of each"
        return verdict
    if verdict.verdict == HOLDS and cnn["trainable_parameters"] >= dnn["trainable_parameters"]:
        verdict.verdict, verdict.why = FAILS, "the CNN does not have fewer parameters"
    return verdict


def _on_the_cnn(e: Evidence, verdict: Verdict) -> Verdict:
    """The verdict of a claim about what the trained CNN does: not testable while it is barely trained."""
    if e.epochs("cnn") < TRAINED_ENOUGH:
        verdict.verdict, verdict.why = UNTESTABLE, f"needs at least {TRAINED_ENOUGH} epochs of the CNN"
        verdict.experiment = ""
    return verdict


def _recall_interval(found: dict, name: str) -> list[float] | None:
    faces = found.get("faces", {}).get(name)
    return list(uncertainty.accuracy_interval(found["recall"][name], faces)) if faces else None


def _easiest_and_hardest(e: Evidence) -> Verdict:
    found = e.findings["confusion"]
    recall = found["recall"]
    easiest, hardest = max(recall, key=recall.get), min(recall, key=recall.get)

    def one(name):
        interval = _recall_interval(found, name)
        return f"{name} {recall[name]:.1%}" + (f" ({uncertainty.interval_text(*interval)})" if interval else "")

    said = f"easiest {one(easiest)}, hardest {one(hardest)}; fear {recall['fear']:.1%} on {found['split']}, chosen views"
    holds = (easiest, hardest) == ("happy", "fear")
    verdict = Verdict(HOLDS if holds else FAILS, recall["fear"], said, interval=_recall_interval(found, "fear"),
                      threshold="easiest and hardest: the highest and lowest recall")
    if not holds:
        training = found.get("training_faces", {})
        rest = {k: v for k, v in recall.items() if k != "disgust"}
        rank = sorted(rest, key=rest.get)
        if hardest == "disgust" and training:
            share = training["disgust"] / sum(training.values())
            verdict.why = (f"disgust, the rarest class ({training['disgust']:,} of {sum(training.values()):,} "
                           f"training faces, {share:.1%}), is recognised least; the report's ranking leaves it aside")
        else:
            verdict.why = f"{hardest} is recognised least here"
        verdict.experiment = (f"with disgust set aside, the hardest of the other five is {rank[0]} "
                              f"({one(rank[0])}), then {one(rank[1])}; the easiest is {easiest}")
    return _on_the_cnn(e, verdict)


def _sad_as_neutral(e: Evidence) -> Verdict:
    found, rule = e.findings["confusion"], THRESHOLDS["quarter"]
    share = found["matrix"]["sad"]["neutral"]
    faces = found.get("faces", {}).get("sad")
    interval = list(uncertainty.accuracy_interval(share, faces)) if faces else None
    said = f"{share:.1%} of sad faces predicted neutral on {found['split']}, chosen views" + \
        (f" (95% interval {uncertainty.interval_text(*interval)}, {faces:,} sad faces)" if interval else "")
    return _on_the_cnn(e, Verdict(HOLDS if rule.met(share) else FAILS, share, said,
                                  "" if rule.met(share) else f"{share:.1%} lies outside the range read as the report's",
                                  interval=interval, **rule_of(rule, share)))


def _mouth_saliency(e: Evidence) -> Verdict:
    found = e.findings["saliency_regions"]
    shares = found["saliency"]
    ranked = sorted(shares, key=shares.get, reverse=True)
    said = f"{ranked[0]} {shares[ranked[0]]:.0%} of the saliency on {found['area'][ranked[0]]:.0%} of the face; " + \
        "; ".join(f"{r} {shares[r]:.0%} on {found['area'][r]:.0%}" for r in ranked[1:])
    other = max(v for k, v in shares.items() if k != "mouth")
    holds = ranked[0] == "mouth"
    return _on_the_cnn(e, Verdict(HOLDS if holds else FAILS, shares["mouth"], said,
                                  "" if holds else f"the {ranked[0]} carries more of the saliency than the mouth",
                                  threshold=f'"carries most": the mouth ranks first among the face regions; '
                                            f'{"ahead of" if holds else "behind"} the next by '
                                            f'{abs(shares["mouth"] - other) * 100:.1f} points of the saliency',
                                  margin=float(shares["mouth"] - other)))


def _filters_copies_and_complements(e: Evidence) -> Verdict:
    found = e.findings["filter_pairs"]
    similar, complementary = found["similar_r"], found["complementary_r"]
    copies, complements = THRESHOLDS["near_copies"], THRESHOLDS["complementary"]
    said = (f"most alike filters {found['similar'][0]} and {found['similar'][1]} (r = {similar:.2f}), most "
            f"complementary {found['complementary'][0]} and {found['complementary'][1]} (r = {complementary:.2f})")
    holds = copies.met(similar) and complements.met(complementary)
    verdict = Verdict(HOLDS if holds else FAILS, similar, said,
                      threshold=f"{copies.margin_text(similar)}; {complements.margin_text(complementary)}",
                      margin=min(copies.margin(similar), complements.margin(complementary)))
    if not holds:
        missed = [f"no pair reaches {copies.describe()} (closest r = {similar:.2f})"] if not copies.met(similar) else []
        missed += [f"no pair reaches {complements.describe()} (lowest r = {complementary:.2f})"] \
            if not complements.met(complementary) else []
        verdict.why = "; ".join(missed) + ("; the reading of the report's words decides this claim" if any(
            abs(t.margin(v)) < 0.1 for t, v in ((copies, similar), (complements, complementary))) else "")
        counts = found.get("pairs_beyond", {})
        if counts:
            verdict.experiment = "filter pairs at the thresholds either side: " + ", ".join(
                f"{n} with r {'>=' if float(t) > 0 else '<='} {float(t):.2f}" for t, n in counts.items()) + \
                f" (of {found.get('pairs', 0):,} pairs, over {found.get('faces', 0):,} training faces)"
    return _on_the_cnn(e, verdict)


def _seed_spread(e: Evidence, name: str) -> dict | None:
    values = e.seed_accuracies(name)
    return uncertainty.spread(values) if len(values) > 1 else None


def _dlsvm_accuracy(e: Evidence) -> Verdict:
    accuracy, rule = e.accuracy("dlsvm_svm"), THRESHOLDS["about_65"]
    seeds = _seed_spread(e, "dlsvm_svm")
    interval = e.interval("dlsvm_svm")
    said = (f"{accuracy:.1%}" + (f" (95% interval {uncertainty.interval_text(*interval)})" if interval else "") +
            f" after {e.epochs('dlsvm_svm')} epochs ({_on_split(e, 'dlsvm_svm')})")
    if seeds and seeds["sd"] is not None:
        said += f"; over {len(seeds['values'])} seeds {seeds['mean']:.1%} +- {seeds['sd'] * 100:.1f} points"
    shown = {"interval": e.interval("dlsvm_svm"), "seeds": seeds, **rule_of(rule, accuracy)}
    if rule.met(accuracy):
        return Verdict(HOLDS, accuracy, said, **shown)
    report = _report_epochs("dlsvm_svm")
    if e.epochs("dlsvm_svm") < report:
        return Verdict(UNTESTABLE, accuracy, said, _needs("dlsvm_svm", report), **shown)
    return Verdict(FAILS, accuracy, said, f"{accuracy:.1%} is below the range read as the report's", **shown)


def _svm_beats_softmax(e: Evidence) -> Verdict:
    gain = e.accuracy("dlsvm_svm") - e.accuracy("dlsvm_softmax")
    said = f"{results.points(gain)} for the L2-SVM head over the softmax head"
    verdict = _compared(e, "dlsvm_svm", "dlsvm_softmax", said)
    if min(e.epochs("dlsvm_svm"), e.epochs("dlsvm_softmax")) < TRAINED_ENOUGH:
        verdict.verdict, verdict.why = UNTESTABLE, f"needs at least {TRAINED_ENOUGH} epochs of each head"
        return verdict
    svm, soft = _seed_spread(e, "dlsvm_svm"), _seed_spread(e, "dlsvm_softmax")
    if not (svm and soft and svm["sd"] is not None and soft["sd"] is not None):
        verdict.measured += "; one seed of each head"
        return verdict
    difference, noise = svm["mean"] - soft["mean"], max(svm["sd"], soft["sd"])
    verdict.seeds = {"dlsvm_svm": svm, "dlsvm_softmax": soft, "difference": difference}
    verdict.measured += (f"; over seeds the L2-SVM head {svm['mean']:.1%} +- {svm['sd'] * 100:.1f} points "
                         f"({len(svm['values'])} seeds), softmax {soft['mean']:.1%} +- {soft['sd'] * 100:.1f} "
                         f"({len(soft['values'])} seeds): {results.points(difference)} between the means")
    if verdict.verdict == HOLDS and difference <= noise:
        verdict.verdict = TIED
        verdict.why = (f"the difference of the means over seeds ({results.points(difference)}) does not exceed the "
                       f"spread of one head across seeds ({noise * 100:.1f} points)")
    return verdict


CLAIMS = (
    Claim("augmentation", "Augmentation is necessary: the CNN does better with it", "03_augmentation_ablation",
          ("cnn", "cnn_noaug"), _augmentation_necessary),
    Claim("overfitting", "Without augmentation the CNN overfits from about epoch 10", "03_augmentation_ablation",
          ("cnn_noaug",), _overfits_early),
    Claim("loss_crossing", "The CNN's training loss falls below its val loss from about epoch 210",
          "02_cnn_training", ("cnn",), _loss_crossing),
    Claim("dnn_fit", "The DNN's training loss and accuracy can hardly catch up with validation, even after 1000 "
          "epochs", "04_dnn", ("dnn_aug",), _dnn_hardly_fits),
    Claim("cnn_vs_dnn", "The CNN does much better than the DNN with fewer parameters", "04_dnn", ("cnn", "dnn_aug"),
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


def evaluate(evidence: Evidence, only: str | None = None) -> list[dict]:
    """One row per claim, in the report's order: claim, notebook, measured (words), number, interval (or seeds:
    the spread over seeds), threshold (the rule in the report's words) and margin, budget (epochs of each model it
    rests on, against the report's), verdict (one of VERDICTS), why (the likeliest reason for any verdict but
    holds) and experiment (what tested that reason, with its numbers). `only`: just the claim of that key."""
    rows = []
    for claim in CLAIMS:
        if only is not None and claim.key != only:
            continue
        row = {"key": claim.key, "claim": claim.text, "notebook": claim.notebook}
        missing = [m for m in claim.models if m not in evidence.records]
        if missing:
            found = Verdict(UNTESTABLE, None, "", f"not trained in this run: "
                                                  f"{', '.join(registry.label(m) for m in missing)}")
        elif claim.finding is not None and claim.finding not in evidence.findings:
            found = Verdict(UNTESTABLE, None, "", f"notebook {claim.notebook[:2]} has not run")
        elif claim.finding is not None and evidence.findings[claim.finding].get(MEASURED_ON) != \
                training_of(evidence.records[claim.models[0]]):
            found = Verdict(UNTESTABLE, None, "", f"notebook {claim.notebook[:2]} measured another training of "
                                                  f"{registry.label(claim.models[0])}: run it again")
        else:
            found = claim.check(evidence)
        row.update(measured=found.measured, number=None if found.number is None else round(float(found.number), 4),
                   interval=None if found.interval is None else [round(float(v), 4) for v in found.interval],
                   seeds=found.seeds, threshold=found.threshold,
                   margin=None if found.margin is None else round(float(found.margin), 4),
                   budget="" if missing else "; ".join(
                       f"{registry.label(m)}: {evidence.epochs(m)} of {_report_epochs(m)} epochs" for m in claim.models),
                   verdict=found.verdict, why=found.why, experiment=found.experiment)
        rows.append(row)
    return rows


def judge(run_root: str | os.PathLike, key: str) -> dict:
    """The row of claim `key` (`evaluate`) on a run's evidence so far: what a notebook states of that claim is
    what the claims table states."""
    return evaluate(Evidence.of_run(run_root), only=key)[0]


def sentence(row: dict) -> str:
    """A claim's row in one sentence: the claim, what this run measured, the rule and the verdict with its reason."""
    text = f"{row['claim']}: {row['measured']}" + (f"; rule {row['threshold']}" if row.get("threshold") else "")
    text += f". Verdict: {row['verdict']}" + (f" ({row['why']})" if row["why"] else "") + "."
    return text + (f" Tested: {row['experiment']}." if row.get("experiment") else "")


def write(folder: str | os.PathLike, rows: list[dict]) -> Path:
    return atomic.write_json(Path(folder) / CLAIMS_FILE, rows)


def table(rows: list[dict]) -> pd.DataFrame:
    """The claims as the report shows them: claim, this run's measurement (with its interval or seed spread),
    the rule that decided it with the margin, budget, verdict (with the likeliest reason for any verdict but
    holds), and the experiment that tested that reason."""
    return pd.DataFrame([{"claim": r["claim"], "this run": r["measured"], "rule and margin": r.get("threshold", ""),
                          "budget": r["budget"], "verdict": r["verdict"] + (f" ({r['why']})" if r["why"] else ""),
                          "reason tested": r.get("experiment", "")} for r in rows])


def markdown(rows: list[dict]) -> str:
    """The claims as a Markdown table (for the README): the columns of `table`."""
    shown = table(rows)
    lines = ["| " + " | ".join(shown.columns) + " |", "|---" * len(shown.columns) + "|"]
    lines += ["| " + " | ".join(str(v).replace("|", "/") for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join(lines) + "\n"
