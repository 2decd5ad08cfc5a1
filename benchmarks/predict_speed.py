"""How fast `fer-report predict` is on this machine, for each face detector: photos per second (detection and
cropping) at two sizes of scikit-image's astronaut.png (one face), video frames per second at 640x360 (a clip of
the astronaut: decoding, detection, cropping and classification with the chosen views, as the command reads it),
and classification (faces per second with each test-time view set up to the one chosen for the model on val, one
face per call as the command does for a one-face photo, and in batches of 64). With --batch N: the whole command
on a folder of N copies of the astronaut, per detector: photos per second, and the time per photo spent in face
detection and outside it (reading, classifying, drawing and writing the annotated copy, the CSV).

    python benchmarks/predict_speed.py [--model FILE_OR_RUN] [--repeat 20] [--batch 200] [--only-batch]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer_utils import faces, predict, video, views  # noqa: E402


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a .keras file or run folder (default: the committed model)")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--batch", type=int, default=0, help="also time the whole command on this many photos")
    parser.add_argument("--only-batch", action="store_true", help="time only the whole command (needs --batch)")
    args = parser.parse_args(argv)
    if args.batch:
        for detector in faces.DETECTORS:
            batch_command(2, detector, args.model)  # warm-up: imports, the model, the detector
        print(pd.DataFrame([batch_command(args.batch, d, args.model) for d in faces.DETECTORS]).round(3)
              .to_string(index=False))
        if args.only_batch:
            return 0
    photo = faces.read_photo(faces.sample_photo())
    classifier = predict.load_classifier(args.model)
    clip = Path(tempfile.mkdtemp()) / "astronaut.mp4"
    frame = cv2.cvtColor(cv2.resize(photo, (360, 360), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR)
    frame = cv2.copyMakeBorder(frame, 0, 0, 140, 140, cv2.BORDER_REPLICATE)  # 640x360, the face in the middle
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 360))
    for _ in range(VIDEO_FRAMES):
        writer.write(frame)
    writer.release()
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
