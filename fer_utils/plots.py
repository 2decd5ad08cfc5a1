"""Figures of the report series: one plotting style and one `save_fig` that every figure goes through,
writing PNG at a fixed DPI into the run's figures folder under the report's names."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .data import CLASS_NAMES

DPI = 120


def set_style() -> None:
    """Seaborn's clean style with readable sizes; PNG output in notebooks."""
    sns.set_theme(style="whitegrid", context="notebook")
    matplotlib.rcParams.update({"figure.dpi": 80, "savefig.dpi": DPI, "savefig.bbox": "tight",
                                "image.cmap": "gray"})


def save_fig(fig: plt.Figure, name: str, folder: str | Path) -> Path:
    """Write `fig` as `<folder>/<name>.png` at DPI and return the path."""
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def class_distribution(counts: pd.DataFrame) -> plt.Figure:
    """Bars of faces per class, one colour per split (from `data.class_counts`)."""
    long = (counts.drop(index="all", errors="ignore").drop(columns="total", errors="ignore")
            .rename_axis("split").reset_index().melt(id_vars="split", var_name="class", value_name="faces"))
    fig, ax = plt.subplots(figsize=(8, 3.8))
    sns.barplot(data=long, x="class", y="faces", hue="split", ax=ax)
    ax.set(xlabel="", ylabel="faces", title="Faces per class and split")
    return fig


def face_grid(images: np.ndarray, labels: np.ndarray, per_class: int, seed: int) -> plt.Figure:
    """`per_class` randomly chosen faces of each class, one row per class."""
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(CLASS_NAMES), per_class, figsize=(per_class * 0.9, len(CLASS_NAMES) * 0.95))
    for row, name in enumerate(CLASS_NAMES):
        members = np.flatnonzero(labels == row)
        chosen = rng.choice(members, size=min(per_class, len(members)), replace=False)
        for col, ax in enumerate(np.atleast_1d(axes[row])):
            ax.set_axis_off()
            if col < len(chosen):
                ax.imshow(images[chosen[col]], cmap="gray", vmin=0, vmax=255)
        axes[row][0].text(-4, 24, name, ha="right", va="center", fontsize=10)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig


def mean_face(mean: np.ndarray) -> plt.Figure:
    """The per-pixel training mean that preprocessing subtracts."""
    fig, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(mean, cmap="gray")
    ax.set(title="Mean training face")
    ax.set_axis_off()
    return fig


def pixel_histograms(before: np.ndarray, after: np.ndarray) -> plt.Figure:
    """Histograms of training pixel values before (0..255) and after preprocessing ([-1, 1])."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].hist(before.ravel(), bins=np.arange(257), histtype="stepfilled", color="0.35")
    axes[0].set(title="Raw pixels", xlabel="grey level", ylabel="pixels")
    axes[1].hist(after.ravel(), bins=256, histtype="stepfilled", color="tab:blue")
    axes[1].set(title="After preprocessing", xlabel="value")
    return fig


def training_curves(history: pd.DataFrame, title: str, overlay: pd.DataFrame | None = None,
                    overlay_label: str = "") -> plt.Figure:
    """Loss and accuracy per epoch, train and val; `overlay` adds another run's val curves (dashed)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(history["epoch"], history[metric], label="train", color="tab:blue")
        ax.plot(history["epoch"], history[f"val_{metric}"], label="val", color="tab:orange")
        if overlay is not None:
            ax.plot(overlay["epoch"], overlay[f"val_{metric}"], "--", color="0.4", label=f"val, {overlay_label}")
        ax.set(xlabel="epoch", ylabel=metric)
    axes[1].legend(loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_heatmap(matrix: pd.DataFrame, title: str) -> plt.Figure:
    """A row-normalised confusion matrix (from `explain.confusion`) with percentages in the cells."""
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    sns.heatmap(matrix * 100, annot=True, fmt=".0f", cmap="Blues", vmin=0, vmax=100, square=True, ax=ax,
                cbar_kws={"label": "% of the true class"})
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return fig
