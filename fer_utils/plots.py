"""Figures of the report series: one plotting style and one `save_fig` that every figure goes through,
writing PNG at a fixed DPI into the run's figures folder under the report's names. (The annotated photo of
`fer-report predict` is drawn in pixels by `fer_utils.annotate`.)"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.patches
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .atomic import atomic_path
from .labels import CLASS_NAMES

DPI = 120


def set_style() -> None:
    """Seaborn's clean style with readable sizes; PNG output in notebooks."""
    sns.set_theme(style="whitegrid", context="notebook")
    matplotlib.rcParams.update({"figure.dpi": 80, "savefig.dpi": DPI, "savefig.bbox": "tight",
                                "image.cmap": "gray"})


def save_fig(fig: plt.Figure, name: str, folder: str | Path) -> Path:
    """Write `fig` as `<folder>/<name>.png` at DPI and return the path."""
    path = Path(folder) / f"{name}.png"
    with atomic_path(path) as partial:
        fig.savefig(partial, dpi=DPI, bbox_inches="tight")
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
    """A row-normalised confusion matrix (from `evaluation.confusion`) with percentages in the cells."""
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    sns.heatmap(matrix * 100, annot=True, fmt=".0f", cmap="Blues", vmin=0, vmax=100, square=True, ax=ax,
                cbar_kws={"label": "% of the true class"})
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return fig


def explanation_grid(faces: np.ndarray, rows: dict[str, np.ndarray], titles: list[str], title: str) -> plt.Figure:
    """One column per face: the face on top, then one row per entry of `rows` (a name and (N, 48, 48)
    maps). Rows whose name starts with "face" are shown in grey (NaN pixels white); the rest as heatmaps,
    each scaled to its own face's range."""
    n, r = len(faces), len(rows) + 1
    fig, axes = plt.subplots(r, n, figsize=(1.6 * n, 1.7 * r), squeeze=False)
    for col in range(n):
        axes[0, col].imshow(faces[col], cmap="gray", vmin=0, vmax=255)
        axes[0, col].set_title(titles[col], fontsize=8)
        for row, (name, maps) in enumerate(rows.items(), start=1):
            if name.startswith("face"):
                axes[row, col].imshow(np.ma.masked_invalid(maps[col]), cmap="gray", vmin=0, vmax=255)
                axes[row, col].set_facecolor("white")
            else:
                axes[row, col].imshow(maps[col], cmap="inferno")
    for row, name in enumerate(["face", *rows]):
        axes[row, 0].set_ylabel(name, fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([]), ax.set_yticks([])
        ax.grid(False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def class_saliency(maps: np.ndarray, regions: dict, title: str) -> plt.Figure:
    """The class-average saliency maps (classes, 48, 48) with the fixed face regions outlined."""
    fig, axes = plt.subplots(1, len(maps), figsize=(1.9 * len(maps), 2.4))
    colours = dict(zip(regions, sns.color_palette("Set2", len(regions))))
    for ax, name, m in zip(axes, CLASS_NAMES, maps):
        ax.imshow(m, cmap="inferno")
        for region, (rows, cols) in regions.items():
            ax.add_patch(matplotlib.patches.Rectangle((cols.start - 0.5, rows.start - 0.5), cols.stop - cols.start,
                                                      rows.stop - rows.start, fill=False, lw=1.2,
                                                      edgecolor=colours[region], label=region))
        ax.set_title(name, fontsize=9)
        ax.set_axis_off()
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def filter_maps(maps: np.ndarray, title: str, labels: list[str] | None = None, columns: int = 8) -> plt.Figure:
    """One small grey panel per filter from a sequence of F 2-D maps, each in its own range, labelled by
    index (or by `labels`)."""
    count = len(maps)
    rows = int(np.ceil(count / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.25 * columns, 1.35 * rows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i < count:
            ax.imshow(maps[i], cmap="gray")
            ax.set_title(labels[i] if labels else str(i), fontsize=8, pad=2)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def top_faces(images: np.ndarray, indices: np.ndarray, title: str, columns: int = 4) -> plt.Figure:
    """For each filter, its top faces side by side (`indices` is (F, k) from `explain.top_activating`)."""
    strips = [np.hstack([images[i] for i in row]) for row in indices]
    return filter_maps(strips, title, [f"filter {f}" for f in range(len(strips))], columns)


def correlation_heatmap(corr: np.ndarray, title: str) -> plt.Figure:
    """Correlations between a layer's filters (F, F), blue negative, red positive."""
    fig, ax = plt.subplots(figsize=(6.2, 5.2))
    sns.heatmap(corr, cmap="vlag", vmin=-1, vmax=1, square=True, ax=ax, xticklabels=8, yticklabels=8,
                cbar_kws={"label": "correlation of outputs"})
    ax.set(xlabel="filter", ylabel="filter", title=title)
    return fig


def layer_comparison(left: np.ndarray, left_title: str, right: np.ndarray, right_title: str, title: str,
                     rows: int = 8) -> plt.Figure:
    """Two layers' outputs for one face (each (H, W, F)) side by side in `rows` rows, each filter labelled."""
    panels = [np.moveaxis(left, -1, 0), np.moveaxis(right, -1, 0)]
    columns = [int(np.ceil(len(p) / rows)) for p in panels]
    fig, axes = plt.subplots(rows, columns[0] + 1 + columns[1], figsize=(1.1 * (sum(columns) + 1), 1.2 * rows + 0.8),
                             squeeze=False)
    starts = (0, columns[0] + 1)
    for ax in axes.ravel():
        ax.set_axis_off()
    for maps, start, cols, name in zip(panels, starts, columns, (left_title, right_title)):
        for i, m in enumerate(maps):
            ax = axes[i // cols, start + i % cols]
            ax.imshow(m, cmap="gray")
            ax.set_title(str(i), fontsize=7, pad=1)
        axes[0, start].text(0, 1.45, name, transform=axes[0, start].transAxes, fontsize=10, va="bottom")
    fig.suptitle(title, y=0.99)
    fig.subplots_adjust(top=0.9, hspace=0.3, wspace=0.1)
    return fig


def framing_strip(mean_face: np.ndarray, crops: np.ndarray, titles: list[str]) -> plt.Figure:
    """FER2013's mean training face beside the faces cut from photos, to compare their framing."""
    fig, axes = plt.subplots(1, len(crops) + 1, figsize=(1.8 * (len(crops) + 1), 2.2), squeeze=False)
    for ax, image, title in zip(axes[0], [mean_face, *crops], ["FER2013 mean face", *titles]):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
        ax.grid(False)
    fig.tight_layout()
    return fig


def emotion_timeline(smoothed: pd.DataFrame, title: str, max_faces: int = 4) -> plt.Figure:
    """A video's expressions over time (`fer_utils.video.smoothed`): per face (the first `max_faces`) the seven
    probabilities as lines, and beneath them a band coloured by the top expression at each moment."""
    numbers = sorted(smoothed["face"].unique())[:max_faces]
    colours = dict(zip(CLASS_NAMES, sns.color_palette("tab10", len(CLASS_NAMES))))
    fig, axes = plt.subplots(2 * max(1, len(numbers)), 1, figsize=(9, 2.6 * max(1, len(numbers))), sharex=True,
                             squeeze=False, gridspec_kw={"height_ratios": [6, 1] * max(1, len(numbers))})
    for k, number in enumerate(numbers):
        rows = smoothed[smoothed["face"] == number]
        lines, band = axes[2 * k, 0], axes[2 * k + 1, 0]
        for name in CLASS_NAMES:
            lines.plot(rows["time"], rows[name], color=colours[name], label=name, linewidth=1.5)
        lines.set_ylim(0, 1)
        lines.set_ylabel(f"face {number}\nprobability")
        top = rows[list(CLASS_NAMES)].to_numpy().argmax(axis=1)
        edges = np.append(rows["time"].to_numpy(), rows["time"].iloc[-1] + (np.diff(rows["time"]).mean()
                                                                             if len(rows) > 1 else 0.1))
        for i, cls in enumerate(top):
            band.axvspan(edges[i], edges[i + 1], color=colours[CLASS_NAMES[cls]], linewidth=0)
        band.set_yticks([])
        band.set_ylabel("top", rotation=0, ha="right", va="center")
        band.grid(False)
    if numbers:
        axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    else:
        axes[0, 0].text(0.5, 0.5, "no face found", ha="center", va="center", transform=axes[0, 0].transAxes)
    axes[-1, 0].set_xlabel("time in the video (s)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def reliability_diagrams(bins: dict[str, tuple[dict, dict]], title: str) -> plt.Figure:
    """One panel per model: the accuracy of each bin of the top probability against its mean top probability,
    before and after calibration (`fer_utils.calibration.reliability` bins), and the diagonal a calibrated model
    follows; `bins`: label -> (before, after)."""
    fig, axes = plt.subplots(1, len(bins), figsize=(3.2 * len(bins), 3.4), squeeze=False, sharey=True)
    for ax, (label, (before, after)) in zip(axes[0], bins.items()):
        ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1)
        for shown, name, marker in ((before, "as trained", "o"), (after, "calibrated", "s")):
            used = shown["faces"] > 0
            ax.plot(shown["confidence"][used], shown["accuracy"][used], marker=marker, markersize=4, label=name)
        ax.set(title=label, xlabel="top probability (bin mean)", xlim=(0, 1), ylim=(0, 1))
    axes[0][0].set_ylabel("accuracy in the bin")
    axes[0][-1].legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
