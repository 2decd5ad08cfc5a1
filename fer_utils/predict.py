"""Expressions in your own photos and videos (`fer-report predict`): each face found (`fer_utils.faces`) is
classified by a trained model (`fer_utils.classifier`) with its own preprocessing, averaged over the test-time
views chosen for it on val as the report evaluates. Each photo gets an annotated copy and its faces a row each in
predictions.csv; each video (`fer_utils.video`) its rows in timeline.csv, a timeline figure, a summary line per
face and, on request, an annotated copy."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import atomic, faces, lock, video
from .classifier import Classifier, load_classifier
from .labels import CLASS_NAMES
from .errors import UserError
from .views import VIEW_SETS

if TYPE_CHECKING:  # pandas (and the pyarrow it loads) only when a table is written
    import pandas as pd

CSV_NAME = "predictions.csv"
TIMELINE_NAME = "timeline.csv"
VIDEO_OUTPUTS = ("{}-timeline.png", "{}-annotated.mp4")  # what a video writes beside the tables
CSV_COLUMNS = ["file", "face", "x", "y", "width", "height", *CLASS_NAMES, "top"]


def input_files(paths) -> tuple[list[Path], list[Path], list[str]]:
    """The photos and the videos among `paths` (files, or folders searched one level deep, sorted; a file named
    directly is a video if its suffix says so, else a photo), and one problem line per path that gives none and
    per file of a folder that is neither (hidden files are passed over)."""
    photos, videos, problems = [], [], []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            if not found:
                problems.append(f"{path}: no photos or videos in this folder")
            for file in found:
                suffix = file.suffix.lower()
                if suffix in faces.PHOTO_SUFFIXES:
                    photos.append(file)
                elif suffix in video.VIDEO_SUFFIXES:
                    videos.append(file)
                else:
                    problems.append(f"{file}: not a photo or video this command reads (photos: "
                                    f"{' '.join(faces.PHOTO_SUFFIXES)}; videos: {' '.join(video.VIDEO_SUFFIXES)})")
        elif path.is_file():
            (videos if path.suffix.lower() in video.VIDEO_SUFFIXES else photos).append(path)
        else:
            problems.append(f"{path}: no such file or folder")
    return photos, videos, problems


@dataclass
class PhotoResult:
    """One photo's faces (`fer_utils.faces.Face`), their 48x48 crops, probabilities (n, 7), and saliency maps if
    explained."""

    path: Path
    photo: np.ndarray
    found: list
    crops: np.ndarray
    probabilities: np.ndarray
    saliency: np.ndarray | None = None

    @property
    def boxes(self) -> np.ndarray:
        return faces.boxes(self.found)

    def rows(self) -> list[dict]:
        """predictions.csv's rows for this photo."""
        return [{"file": str(self.path), "face": i, "x": int(x), "y": int(y), "width": int(w), "height": int(h),
                 **{c: round(float(p), 4) for c, p in zip(CLASS_NAMES, probs)},
                 "top": CLASS_NAMES[int(probs.argmax())]}
                for i, ((x, y, w, h), probs) in enumerate(zip(self.boxes, self.probabilities), start=1)]

    def summary(self) -> str:
        if not self.found:
            return "no face found"
        tops = ", ".join(f"{CLASS_NAMES[int(p.argmax())]} {p.max():.0%}" for p in self.probabilities)
        return f"{len(self.found)} face{'s' if len(self.found) > 1 else ''}: {tops}"


def read_faces(classifier: Classifier, path: str | os.PathLike, min_face: int = faces.MIN_FACE,
               explain: bool = False, detector: str = faces.DETECTOR) -> PhotoResult:
    """Find, frame and classify the faces of one photo (PhotoError if it cannot be read)."""
    photo = faces.read_photo(path)
    found, crops = faces.faces_in(photo, min_face, detector)
    probabilities = classifier.probabilities(crops)
    saliency = None
    if explain and len(crops):
        from . import explain as explanation

        saliency = explanation.saliency_map(classifier.model, classifier.statistics.transform(crops),
                                            probabilities.argmax(1))
    return PhotoResult(Path(path), photo, found, crops, probabilities, saliency)


def predict(paths, model: str | os.PathLike | None = None, out: str | os.PathLike = "predictions",
            explain: bool = False, min_face: int = faces.MIN_FACE, views: str | None = None,
            detector: str = faces.DETECTOR, every: int = 1, annotate: bool = False, runtime: str = "auto",
            echo=print, progress=None) -> int:
    """`fer-report predict`: annotate each photo into `out` and write `out`/predictions.csv; read each video's
    every `every`-th frame into `out`/timeline.csv and a timeline figure (and an annotated copy if `annotate`);
    print one line per photo and per video, and one per face of a video. 0 if every input was read whole and had
    a face, else 1 (the others are still done). `views` and `runtime` as in `load_classifier`; `progress` as in
    `fer_utils.video.read_video`."""
    if min_face < 1:
        raise UserError(f"--min-face must be a positive number of pixels, got {min_face}")
    if every < 1:
        raise UserError(f"--every must be a positive number of frames, got {every}")
    faces.check_detector(detector)
    if views is not None and views not in VIEW_SETS:
        raise UserError(f"--views: unknown test views {views!r}; choose one of {', '.join(VIEW_SETS)}")
    classifier = load_classifier(model, views, runtime)
    if explain and classifier.runtime != "keras":
        raise UserError("--explain: saliency maps need the Keras runtime (TensorFlow); leave --explain out with "
                        "onnxruntime")
    photos, videos, problems = input_files(paths)
    if videos and not video.tables_installed():
        raise UserError(f"{videos[0]}: reading videos needs pandas and matplotlib (the full install: "
                        f"pip install 'fer-utils[report]'); this install reads photos")
    for problem in problems:
        echo(f"fer-report predict: {problem}", file=sys.stderr)
    if not (photos or videos):
        return 1
    out, where = Path(out), Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)  # a path under a file, a read-only place: one line (OSError)
    with lock.holding(where.parent / f".{where.name}.lock", "fer-report predict", out):  # one predict per --out folder
        return _predict_into(_fresh_folder(out, [*photos, *videos], echo), classifier, photos, videos,
                             bool(problems), min_face, explain, detector, every, annotate, echo, progress)


def _predict_into(out: Path, classifier, photos, videos, failed: bool, min_face, explain, detector, every, annotate,
                  echo, progress) -> int:
    """`predict` once its outputs folder is ready: each photo, each video, the tables and the closing line."""
    rows, timelines, names, photos_read = [], [], set(), 0
    for path in photos:
        photo_rows = _predict_photo(classifier, path, out, names, min_face, explain, detector, echo)
        failed |= not photo_rows
        photos_read += photo_rows is not None
        rows.extend(photo_rows or [])
    for path in videos:
        timeline, whole = _predict_video(classifier, path, out, names, min_face, detector, every, annotate, echo,
                                         progress)
        failed |= not whole
        if timeline is not None:
            timelines.append(timeline)
    if photos:
        atomic.write_text(out / CSV_NAME, _csv(rows, CSV_COLUMNS))
    if videos:
        import pandas as pd

        table = pd.concat(timelines) if timelines else pd.DataFrame(columns=video.TIMELINE_COLUMNS)
        atomic.write_text(out / TIMELINE_NAME, table.to_csv(index=False))
    tables = [f"{out / name}" for name, used in ((CSV_NAME, photos), (TIMELINE_NAME, videos)) if used]
    in_videos = sum(t["face"].nunique() for t in timelines)
    counts = []
    if photos:
        counts.append(f"{_count(len(rows), 'face')} in {_count(photos_read, 'photo')} read"
                      + (f" of {len(photos)}" if photos_read != len(photos) else ""))
    if videos:
        counts.append(f"{_count(in_videos, 'face')} in {_count(len(timelines), 'video')} read"
                      + (f" of {len(videos)}" if len(timelines) != len(videos) else ""))
    echo(f"fer-report predict: {'; '.join(counts)}; model {classifier.described()}, views {classifier.views}, "
         f"{classifier.calibration()}, "
         f"detector {detector}; table{'s' if len(tables) > 1 else ''} {', '.join(tables)}")
    return 1 if failed else 0


def _csv(rows: list[dict], columns: list[str]) -> str:
    """`rows` as CSV text under a header of `columns` (Python's csv module: reading photos needs no pandas)."""
    import csv
    import io

    text = io.StringIO()
    writer = csv.DictWriter(text, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _is_output(path: Path) -> bool:
    """Whether a file in an outputs folder is one that `predict` writes."""
    return path.is_file() and (path.name in (CSV_NAME, TIMELINE_NAME) or path.suffix == ".png"
                               or path.name.endswith("-annotated.mp4"))


def _fresh_folder(out: Path, inputs: list[Path], echo) -> Path:
    """`out`, created empty: an earlier run's outputs in it are moved aside whole (to out.earlier-<time>), said in
    one line, so that the folder holds this run's outputs only. A folder that holds an input, or files predict does
    not write, is refused (nothing of the user's is ever moved)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file, not a folder")
    where = out.resolve()
    holding = next((p for p in inputs if where in p.resolve().parents), None)
    if holding is not None:
        raise UserError(f"--out {out}: holds the input {holding}; name another folder for the outputs")
    foreign = sorted(p.name for p in out.iterdir() if not _is_output(p)) if out.is_dir() else []
    if foreign:
        raise UserError(f"--out {out}: holds {foreign[0]}{' and more' if len(foreign) > 1 else ''}, which predict "
                         f"does not write; name an empty or new folder")
    if out.is_dir() and any(out.iterdir()):
        aside = out.with_name(f"{out.name}.earlier-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(out, aside)
        echo(f"fer-report predict: {out} held earlier outputs; moved them to {aside}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _predict_photo(classifier, path, out: Path, names: set[str], min_face: int, explain: bool, detector: str,
                   echo) -> list[dict] | None:
    """One photo of `predict`: its annotated copy and its line; its rows (none where it shows no face), or None
    where it could not be read."""
    from . import annotate

    try:
        result = read_faces(classifier, path, min_face, explain, detector)
    except faces.PhotoError as e:
        echo(f"fer-report predict: {e}", file=sys.stderr)
        return None
    target = out / f"{_unique_stem(path, names)}.png"
    annotate.save_image(annotate.annotated_photo(result.photo, result.boxes, result.probabilities, result.crops,
                                           result.saliency), target.stem, out)
    if not result.found:
        echo(f"fer-report predict: {path}: no face found (faces of at least {min_face} px are looked for)",
             file=sys.stderr)
        return []
    echo(f"{path}: {result.summary()} -> {target}")
    return result.rows()


def _predict_video(classifier, path, out: Path, names: set[str], min_face: int, detector: str, every: int,
                   annotate: bool, echo, progress) -> tuple[pd.DataFrame | None, bool]:
    """One video of `predict`: its timeline figure, annotated copy and lines; its timeline (None where it could
    not be read) and whether it was read whole with a face."""
    import matplotlib.pyplot as plt

    from . import plots

    stem = _unique_stem(path, names, VIDEO_OUTPUTS)
    annotated = out / f"{stem}-annotated.mp4" if annotate else None
    try:
        clip = video.read_video(classifier, path, every, min_face, detector, annotated, progress)
    except video.VideoError as e:
        echo(f"fer-report predict: {e}", file=sys.stderr)
        return None, False
    sampled = "every frame" if every == 1 else f"1 frame in {every}"
    figure = plots.emotion_timeline(video.smoothed(clip.timeline), f"{path.name}: expressions over time "
                                    f"({sampled}, smoothed over 0.5 s)")
    target = plots.save_fig(figure, f"{stem}-timeline", out)
    plt.close(figure)
    seen = clip.timeline["face"].nunique()
    echo(f"{path}: {clip.frames_read} frames at {clip.fps:.3g} fps, {seen} face{'' if seen == 1 else 's'} "
         f"-> {target}" + (f", {annotated}" if annotated else ""))
    for line in clip.summaries(every):
        echo(f"  {line}")
    if clip.truncated:
        echo(f"fer-report predict: {path}: truncated: decoding stopped after frame {clip.frames_read - 1} of the "
             f"{clip.frames_stated} the file states (the frames before it are in the timeline)", file=sys.stderr)
    if not seen:
        echo(f"fer-report predict: {path}: no face found in any frame read (faces of at least {min_face} px are "
             f"looked for)", file=sys.stderr)
    return clip.timeline, not clip.truncated and bool(seen)


def _unique_stem(path: Path, taken: set[str], outputs=("{}.png",)) -> str:
    """The stem under which input `path` writes its `outputs` (name patterns): its own, or with -2, -3, ... where
    another input's output already has one of those names (inputs from different folders sharing a stem, or a
    photo named like a video's figure); the names are then taken."""
    stem, n = path.stem, 1
    while any(pattern.format(stem) in taken for pattern in outputs):
        n += 1
        stem = f"{path.stem}-{n}"
    taken.update(pattern.format(stem) for pattern in outputs)
    return stem
