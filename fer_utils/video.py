"""Expressions over time in videos (`fer-report predict clip.mp4`): frames read with OpenCV (every one, or every
N-th), their faces found and classified as in photos (`fer_utils.faces`), and followed from frame to frame by the
overlap of their boxes, so that face k is one person through the clip. Each video gives rows of timeline.csv,
a one-line summary per face and, on request, an annotated copy."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from . import atomic, faces
from .labels import CLASS_NAMES
from .errors import UserError

if TYPE_CHECKING:  # pandas (and the pyarrow it loads) only when a table is written
    import pandas as pd

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv")
TIMELINE_COLUMNS = ["file", "frame", "time", "face", "x", "y", "width", "height", *CLASS_NAMES, "top"]
MATCH_OVERLAP = 0.3  # a face continues the track whose last box it overlaps most (intersection over union)
BRIEF = 3  # a face seen in fewer frames read is not summarised (often a false detection)
TRACK_GAP = 1.0  # seconds a face may go unseen (a turned head, a missed detection) and keep its number
ASSUMED_FPS = 25.0  # for a video that states no frame rate
# FFmpeg inside OpenCV would print its own lines on a damaged file; the one line each problem gets is ours
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


class VideoError(UserError):
    """A video that cannot be read at all; the message names the file."""


@dataclass
class VideoResult:
    """One video's timeline (TIMELINE_COLUMNS, a row per face per frame read), its frame rate, how many frames
    were decoded of how many the file states, and `truncated` when decoding stopped before the stated end."""

    path: Path
    timeline: pd.DataFrame
    fps: float
    frames_read: int
    frames_stated: int

    @property
    def truncated(self) -> bool:
        """Decoding stopped clearly before the frame count the file states (which may be estimated: 1% slack)."""
        return self.frames_stated > 0 and self.frames_read + max(2, self.frames_stated // 100) < self.frames_stated

    def summaries(self, every: int = 1) -> list[str]:
        """A line per face: how long it was seen (each frame read, one in `every`, stands for `every` frames) and
        the share of its frames read in which each expression was the top one; a face seen in fewer than
        BRIEF frames read is named as too brief to summarise (often no face at all)."""
        lines, step = [], every / self.fps if self.fps else 0.0
        for face, rows in self.timeline.groupby("face"):
            start, end = rows["time"].min(), rows["time"].max() + step
            if len(rows) < BRIEF:
                tops = ", ".join(rows["top"])
                lines.append(f"face {face}: seen in only {len(rows)} frame{'s' if len(rows) != 1 else ''} read "
                             f"({start:.1f}-{end:.1f} s; top: {tops}): too brief to summarise")
                continue
            shares = rows["top"].value_counts(normalize=True)
            parts = ", ".join(f"{name} {share:.0%}" for name, share in shares.items() if share >= 0.005)
            lines.append(f"face {face}: seen in {len(rows)} frames read over {end - start:.1f} s; share of those "
                         f"frames by top expression: {parts}")
        return lines


def tables_installed() -> bool:
    """Whether what a video's timeline and figure need (pandas, matplotlib, tqdm) is installed: the reader's light
    install reads photos only."""
    from importlib.util import find_spec

    return all(find_spec(name) is not None for name in ("pandas", "matplotlib", "tqdm"))


def overlap(a, b) -> float:
    """Intersection over union of two boxes (x, y, w, h)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    width = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    height = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    shared = width * height
    return shared / (aw * ah + bw * bh - shared) if shared else 0.0


class Tracker:
    """Face numbers across frames: each box takes the number of the track it overlaps most (at least
    MATCH_OVERLAP; larger overlaps are matched first), a track unseen for more than `gap` seconds ends, and a
    box that matches none starts a new number."""

    def __init__(self, gap: float = TRACK_GAP):
        self.gap, self.tracks, self.next = gap, {}, 1  # tracks: number -> (last box, last time seen); faces from 1

    def assign(self, boxes, time: float) -> list[int]:
        live = {k: box for k, (box, seen) in self.tracks.items() if time - seen <= self.gap}
        pairs = sorted(((overlap(box, live[k]), i, k) for i, box in enumerate(boxes) for k in live), reverse=True)
        numbers: list[int | None] = [None] * len(boxes)
        for share, i, k in pairs:
            if share < MATCH_OVERLAP:
                break
            if numbers[i] is None and k not in numbers:
                numbers[i] = k
        for i, box in enumerate(boxes):
            if numbers[i] is None:
                numbers[i], self.next = self.next, self.next + 1
            self.tracks[numbers[i]] = (tuple(box), time)
        return numbers


def classified(classifier, frame: np.ndarray, min_face: int = faces.MIN_FACE, detector: str = faces.DETECTOR
               ) -> tuple[list[tuple], np.ndarray]:
    """The faces of one video frame (BGR, as OpenCV reads it): their boxes, largest first, and the class
    probabilities `classifier` gives each."""
    found, crops = faces.faces_in(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), min_face, detector)
    return [face.box for face in found], classifier.probabilities(crops)


def read_video(classifier, path: str | os.PathLike, every: int = 1, min_face: int = faces.MIN_FACE,
               detector: str = faces.DETECTOR, annotated: str | os.PathLike | None = None, progress=None
               ) -> VideoResult:
    """Every `every`-th frame of a video: its faces found, classified by `classifier` (`fer_utils.predict`) and
    numbered by `Tracker`. `annotated`: write a copy of the video there with each face's box, number and top
    expression (written whole or not at all). `progress`: a stream for a progress bar with frames per second
    and time left (None: standard error when it is a terminal; False: none). VideoError names a file that gives
    no frame."""
    from tqdm import tqdm

    if every < 1:
        raise UserError(f"--every must be a positive number of frames, got {every}")
    path = Path(path)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoError(f"{path}: cannot be opened as a video (not a video, or in a format OpenCV cannot read)")
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and np.isfinite(fps) and fps > 0 else ASSUMED_FPS
    stated = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
    bar = tqdm(total=stated or None, unit="frame", desc=path.name, leave=False, dynamic_ncols=True,
               file=progress or sys.stderr, disable={None: None, False: True}.get(progress, False))
    tracker, rows, read, labels = Tracker(), [], 0, []
    try:
        with contextlib.ExitStack() as stack:
            writer = None
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                if annotated is not None and writer is None:
                    partial = stack.enter_context(atomic.atomic_path(annotated))
                    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                             (frame.shape[1], frame.shape[0]))
                    stack.callback(writer.release)
                    if not writer.isOpened():
                        raise VideoError(f"{annotated}: OpenCV cannot write an MP4 video here (no mp4v encoder)")
                if read % every == 0:
                    boxes, probabilities = classified(classifier, frame, min_face, detector)
                    numbers = tracker.assign(boxes, read / fps)
                    labels = []
                    for box, number, probs in zip(boxes, numbers, probabilities):
                        top = CLASS_NAMES[int(probs.argmax())]
                        rows.append({"file": str(path), "frame": read, "time": round(read / fps, 3), "face": number,
                                     **dict(zip(("x", "y", "width", "height"), map(int, box))),
                                     **{c: round(float(p), 4) for c, p in zip(CLASS_NAMES, probs)}, "top": top})
                        labels.append((box, f"{number} {top} {probs.max():.0%}"))
                if writer is not None:
                    writer.write(_annotate(frame, labels))
                read += 1
                bar.update(1)
            if not read:
                raise VideoError(f"{path}: no frame could be read (an empty or damaged video)")
    finally:
        bar.close()
        capture.release()
    import pandas as pd

    return VideoResult(path, pd.DataFrame(rows, columns=TIMELINE_COLUMNS), fps, read, stated)


def _annotate(frame: np.ndarray, labels) -> np.ndarray:
    """A copy of a BGR frame with each (box, text) of the last frame classified drawn on it."""
    out = frame.copy()
    thickness = max(1, round(max(frame.shape[:2]) / 400))
    for (x, y, w, h), text in labels:
        cv2.rectangle(out, (x, y), (x + w, y + h), (0, 255, 255), thickness)
        cv2.putText(out, text, (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, (0, 255, 255),
                    thickness, cv2.LINE_AA)
    return out


def smoothed(timeline: pd.DataFrame, seconds: float = 0.5) -> pd.DataFrame:
    """Each face's seven probabilities as a centred rolling mean over about `seconds` of its frames read."""
    import pandas as pd

    def one(rows: pd.DataFrame) -> pd.DataFrame:
        step = float(np.median(np.diff(rows["time"]))) if len(rows) > 1 else 1.0
        window = max(1, int(round(seconds / step))) if step > 0 else 1
        return rows[list(CLASS_NAMES)].rolling(window, center=True, min_periods=1).mean()

    ordered = timeline.sort_values(["face", "time"])
    return pd.concat([ordered[["face", "time"]], ordered.groupby("face", group_keys=False).apply(one)], axis=1)


def demo_clip(path: str | os.PathLike, face_images, seconds_each: float = 1.0, fps: float = 10.0) -> Path:
    """Write a short MP4 to try the video path on: each 48x48 grey face in turn for `seconds_each`, enlarged to
    160 px on a 640x360 grey frame and drifting a little to the right, as one person changing expression."""
    per_face = max(1, int(round(seconds_each * fps)))
    with atomic.atomic_path(path) as partial:
        writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 360))
        try:
            for k, face in enumerate(face_images):
                big = cv2.resize(np.asarray(face, np.uint8), (160, 160), interpolation=cv2.INTER_CUBIC)
                for i in range(per_face):
                    frame = np.full((360, 640), 128, np.uint8)
                    x = 200 + (k * per_face + i) * 2
                    frame[100:260, x:x + 160] = big
                    writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
        finally:
            writer.release()
    return Path(path)
