"""How fast `fer-report predict` is on this machine, for each face detector: photos per second (detection and
cropping) at two sizes of scikit-image's astronaut.png (one face), video frames per second at 640x360 (a clip of
the astronaut: decoding, detection, cropping and classification with the chosen views, as the command reads it),
and classification (faces per second with each test-time view set up to the one chosen for the model on val, one
face per call as the command does for a one-face photo, and in batches of 64). With --batch N: the whole command
on a folder of N copies of the astronaut, per detector: photos per second, and the time per photo spent in face
detection and outside it (reading, classifying, drawing and writing the annotated copy, the CSV).

With --runtimes: the two runtimes side by side in one run, MTCNN and the committed model: the whole command on
the astronaut from a fresh process (start-up: imports, loading, one photo), photos and video frames per second
once started, for Keras on TensorFlow and for onnxruntime on the committed export (reference/onnx), the latter
also from a fresh virtual environment with only the base install and its [onnx] extra (no TensorFlow), whose
size on disk is given beside this environment's.

    python benchmarks/predict_speed.py [--model FILE_OR_RUN] [--repeat 20] [--batch 200] [--only-batch]
    python benchmarks/predict_speed.py --runtimes [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer_utils import classifier as classifiers, faces, paths, predict, video, views  # noqa: E402


VIDEO_FRAMES = 50


def rate(work, count: int, repeat: int) -> float:
    """Items per second of `work()` (which handles `count` items), best of `repeat` timed calls after one warm-up."""
    work()
    best = min(_timed(work) for _ in range(repeat))
    return count / best


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def batch_command(copies: int, detector: str, model=None) -> dict:
    """`fer-report predict` on a folder of `copies` copies of the astronaut: photos per second for the whole
    command (the model's loading included), and seconds per photo in face detection and outside it."""
    scratch = Path(tempfile.mkdtemp())
    folder = scratch / "copies"
    folder.mkdir()
    for i in range(copies):
        shutil.copy(faces.sample_photo(), folder / f"astronaut-{i:03d}.png")
    real, spent = faces.faces_in, []

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    faces.faces_in = timed
    try:
        start = time.perf_counter()
        predict.predict([folder], model=model, out=scratch / "out", detector=detector, echo=lambda *a, **k: None)
        total = time.perf_counter() - start
    finally:
        faces.faces_in = real
        shutil.rmtree(scratch)
    return {"step": f"{detector}: the command on {copies} copies of the astronaut", "per second": copies / total,
            "detection, s per photo": sum(spent) / copies, "the rest, s per photo": (total - sum(spent)) / copies}


def astronaut_clip() -> Path:
    """A 640x360 clip of VIDEO_FRAMES frames of the astronaut, her face in the middle, in a scratch folder."""
    photo = faces.read_photo(faces.sample_photo())
    clip = Path(tempfile.mkdtemp()) / "astronaut.mp4"
    frame = cv2.cvtColor(cv2.resize(photo, (360, 360), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR)
    frame = cv2.copyMakeBorder(frame, 0, 0, 140, 140, cv2.BORDER_REPLICATE)  # 640x360, the face in the middle
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 360))
    for _ in range(VIDEO_FRAMES):
        writer.write(frame)
    writer.release()
    return clip


def folder_size(folder: Path) -> int:
    """Bytes of the files under `folder`."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def startup(program: Path, options: list[str], photo: Path, repeat: int = 3) -> float:
    """Seconds of the whole `fer-report predict` (`program`, with `options`) on one photo from a fresh process,
    best of `repeat`."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}

    def once() -> float:
        out = Path(tempfile.mkdtemp())
        start = time.perf_counter()
        subprocess.run([str(program), "predict", str(photo), "--out", str(out / "p"), *options], check=True,
                       capture_output=True, env=environ)
        seconds = time.perf_counter() - start
        shutil.rmtree(out)
        return seconds

    return min(once() for _ in range(repeat))


def light_environment(folder: Path) -> Path:
    """A virtual environment in `folder` with the base install and its [onnx] extra only; its fer-report."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    subprocess.run([str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-e", f"{paths.PROJECT_ROOT}[onnx]"], check=True, capture_output=True)
    return folder / "bin" / "fer-report"


def runtimes(clip: Path, repeat: int) -> pd.DataFrame:
    """The two runtimes side by side: start-up, photos/s, video frames/s; the size of each install."""
    photo = faces.sample_photo()
    scratch = Path(tempfile.mkdtemp())
    light = light_environment(scratch / "light")
    full = Path(sys.executable).parent / "fer-report"
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    rows = []
    for runtime, program in (("keras", full), ("onnx", full), ("onnx, light install", light)):
        options = [] if program == light else ["--runtime", runtime]
        row = {"runtime": runtime, "start-up and one photo, s": startup(program, options, photo)}
        if program != light:
            classifier = classifiers.load_classifier(runtime=runtime)
            row["photos/s"] = rate(lambda: predict.read_faces(classifier, photo), 1, repeat)
            row["video frames/s"] = rate(lambda: video.read_video(classifier, clip, progress=False), VIDEO_FRAMES, 3)
        rows.append(row)
    sizes = {"this environment's site-packages, MB": folder_size(site) / 1e6,
             "the light install's site-packages, MB": folder_size(next((scratch / "light").rglob("site-packages")))
             / 1e6}
    shutil.rmtree(scratch)
    print("; ".join(f"{k} {v:,.0f}" for k, v in sizes.items()))
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a .keras file or run folder (default: the committed model)")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--batch", type=int, default=0, help="also time the whole command on this many photos")
    parser.add_argument("--only-batch", action="store_true", help="time only the whole command (needs --batch)")
    parser.add_argument("--runtimes", action="store_true", help="only the two runtimes side by side")
    args = parser.parse_args(argv)
    if args.runtimes:
        print(runtimes(astronaut_clip(), args.repeat).round(2).to_string(index=False))
        return 0
    if args.batch:
        for detector in faces.DETECTORS:
            batch_command(2, detector, args.model)  # warm-up: imports, the model, the detector
        print(pd.DataFrame([batch_command(args.batch, d, args.model) for d in faces.DETECTORS]).round(3)
              .to_string(index=False))
        if args.only_batch:
            return 0
    photo = faces.read_photo(faces.sample_photo())
    classifier = predict.load_classifier(args.model)
    clip = astronaut_clip()
    rows = []
    for detector in faces.DETECTORS:
        for side in (512, 1280):
            image = cv2.resize(photo, (side, side), interpolation=cv2.INTER_CUBIC)
            found = len(faces.detect(image, detector=detector))
            rows.append({"step": f"{detector}: photo {side}x{side} ({found} face), detection and crop",
                         "per second": rate(lambda: faces.faces_in(image, detector=detector), 1, args.repeat)})
        rows.append({"step": f"{detector}: video 640x360, frames read and classified ({classifier.views})",
                     "per second": rate(lambda: video.read_video(classifier, clip, detector=detector,
                                                                 progress=False), VIDEO_FRAMES, 3)})
    _, crop = faces.faces_in(photo)
    batch = np.repeat(crop, 64, axis=0)
    chosen = classifier.views
    for view_set in dict.fromkeys(["plain", "mirror", chosen]):
        classifier.views = view_set
        count = len(views.views_of(view_set))
        label = f"{view_set}{', chosen on val' if view_set == chosen else ''}: {count} view{'' if count == 1 else 's'}"
        rows.append({"step": f"classification, 1 face per call ({label})",
                     "per second": rate(lambda: classifier.probabilities(crop), 1, args.repeat)})
        rows.append({"step": f"classification, 64 faces per call ({label})",
                     "per second": rate(lambda: classifier.probabilities(batch), 64, args.repeat)})
    classifier.views = chosen
    print(f"model {classifier.source}")
    print(pd.DataFrame(rows).round(1).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
