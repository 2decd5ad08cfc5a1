"""The rules that turn the report's words into numbers ("about a quarter", "near copies"), each declared once with
the words it interprets, and how a measured value stands against its rule (met or not, and by what margin)."""

from __future__ import annotations

from dataclasses import dataclass

from .results import points


@dataclass(frozen=True)
class Threshold:
    """A rule that turns the report's words into a number: the words, and the range that counts as them (`low`
    and/or `high`, inclusive), in `unit` ("epoch", "share", "points", "r", "accuracy")."""

    words: str
    low: float | None = None
    high: float | None = None
    unit: str = "share"

    def shown(self, value: float) -> str:
        if self.unit == "epoch":
            return f"epoch {value:.0f}"
        if self.unit == "r":
            return f"{value:.2f}"
        if self.unit == "points":
            return points(value)
        return f"{value:.1%}"

    def describe(self) -> str:
        """The rule in words: '"about a quarter": 20.0% to 30.0%'."""
        if self.low is not None and self.high is not None:
            bounds = f"{self.shown(self.low)} to {self.shown(self.high)}"
        elif self.low is not None:
            bounds = f"from {self.shown(self.low)}"
        else:
            bounds = f"up to {self.shown(self.high)}"
        return f'"{self.words}": {bounds}'

    def margin(self, value: float) -> float:
        """How far `value` lies inside the range (positive) or outside it (negative), to the nearest bound."""
        sides = ([value - self.low] if self.low is not None else []) + \
                ([self.high - value] if self.high is not None else [])
        return float(min(sides))

    def met(self, value: float) -> bool:
        return self.margin(value) >= 0

    def margin_text(self, value: float) -> str:
        """'22.6%; "about a quarter": 20.0% to 30.0%, met by 2.6 points' (or 'missed by ...')."""
        margin = self.margin(value)
        size = f"{abs(margin):.0f} epochs" if self.unit == "epoch" else \
            f"{abs(margin):.2f}" if self.unit == "r" else f"{abs(margin) * 100:.1f} points"
        return f"{self.describe()}; {'met' if margin >= 0 else 'missed'} by {size}"


def rule_of(rule: Threshold, value: float) -> dict:
    """A Verdict's threshold (the rule with its margin in words) and margin for `value`."""
    return {"threshold": rule.margin_text(value), "margin": rule.margin(value)}


# Every rule that decides a verdict, declared once with the report's words it interprets.
THRESHOLDS = {
    "overfitting_onset": Threshold("overfits from about epoch 10", 5, 15, "epoch"),
    "loss_crossing": Threshold("from about epoch 210", 160, 260, "epoch"),
    "much_better": Threshold("much better", low=0.05, unit="points"),
    "quarter": Threshold("about a quarter", 0.20, 0.30),
    "near_copies": Threshold("near copies", low=0.90, unit="r"),
    "complementary": Threshold("complementary", high=-0.50, unit="r"),
    "about_65": Threshold("about 65%", low=0.62, unit="accuracy"),
}
FILTER_STEPS = (0.80, 0.85, 0.90, 0.95, -0.40, -0.50, -0.60)  # the filter-pair thresholds either side, counted
