"""How fast `fer-report predict` is on this machine: face detection (photos per second at two sizes of
scikit-image's astronaut.png, one face each) and classification (faces per second with each test-time view set up to the
one chosen for the model on val, one face per call as the command does for a one-face photo, and in batches of 64).

    python benchmarks/predict_speed.py [--model FILE_OR_RUN] [--repeat 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer_utils import evaluation, faces, predict  # noqa: E402


def rate(work, count: int, repeat: int) -> float:
    """Items per second of `work()` (which handles `count` items), best of `repeat` timed calls after one warm-up."""
    work()
    best = min(_timed(work) for _ in range(repeat))
    return count / best


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a .keras file or run folder (default: the committed model)")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    photo = faces.grey(faces.read_photo(faces.sample_photo()))
    classifier = predict.load_classifier(args.model)
    rows = []
    for side in (512, 1280):
        image = cv2.resize(photo, (side, side), interpolation=cv2.INTER_CUBIC)
        found = len(faces.detect(image))
        rows.append({"step": f"detection, {side}x{side} photo ({found} face)",
                     "per second": rate(lambda: faces.faces_in(image), 1, args.repeat)})
    _, crop = faces.faces_in(photo)
    batch = np.repeat(crop, 64, axis=0)
    chosen = classifier.views
    for views in dict.fromkeys(["plain", "mirror", chosen]):
        classifier.views = views
        count = len(evaluation.views_of(views))
        label = f"{views}{', chosen on val' if views == chosen else ''}: {count} view{'' if count == 1 else 's'}"
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
