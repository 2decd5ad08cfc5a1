"""How FER2013 frames a face, measured against OpenCV's face detector, for `fer_utils.faces.FRAMING`.

Each PublicTest face is enlarged --upscale times and placed in the middle of a canvas twice its size (the
border repeats the face's edge pixels), so where FER2013's frame lies in the canvas is known. The detector runs
on the canvas; for every face found exactly once, the frame is measured in units of the detector's box:
its side (scale) and its centre's offset from the box's centre (dx, dy). The medians give the framing.

Then the check that picks the scale: each detected face is cut out again with the median offsets and a range
of scales, and the CNN (with its test-time views chosen on val) classifies the cut-outs. The scale whose predictions agree most often
with the CNN's predictions on the original 48x48 faces wins (accuracy against the labels is shown beside).

    python benchmarks/face_framing.py [--data PATH] [--model FILE_OR_RUN] [--limit 0]
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

from fer_utils import config, data, faces, predict  # noqa: E402

SCALES = (0.9, 1.0, 1.05, 1.1, 1.15, 1.2, 1.3)  # multiples of the median scale tried by the check


def placed(face: np.ndarray, upscale: int) -> np.ndarray:
    """A 48x48 face enlarged `upscale` times in the middle of a canvas twice that size (edges repeated)."""
    big = cv2.resize(face, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    border = big.shape[0] // 2
    return cv2.copyMakeBorder(big, border, border, border, border, cv2.BORDER_REPLICATE)


def measure(images: np.ndarray, upscale: int) -> pd.DataFrame:
    """Per face: how many boxes the detector found, and for single finds the frame in box units."""
    side = data.IMAGE_SIDE * upscale
    centre = side  # the canvas is 2 * side wide; the face's frame is centred
    rows = []
    for i, face in enumerate(images):
        boxes = faces.detect(placed(face, upscale), min_face=side // 4)
        row = {"face": i, "found": len(boxes)}
        if len(boxes) == 1:
            x, y, w, h = boxes[0]
            row.update(box=tuple(boxes[0]), scale=side / w, dx=(centre - (x + w / 2)) / w,
                       dy=(centre - (y + h / 2)) / w)
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="FER2013 file or folder (default: $FER2013_DATA, then data/)")
    parser.add_argument("--model", help="a .keras file or run folder (default: the committed model best on val)")
    parser.add_argument("--upscale", type=int, default=4)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N PublicTest faces")
    args = parser.parse_args(argv)
    fer = data.load_fer2013(config.resolve_data(args.data))
    images, labels = fer.val.images, fer.val.labels
    if args.limit:
        images, labels = images[:args.limit], labels[:args.limit]
    start = time.perf_counter()
    found = measure(images, args.upscale)
    seconds = time.perf_counter() - start
    single = found[found["found"] == 1]
    framing = faces.Framing(float(single["scale"].median()), float(single["dx"].median()),
                            float(single["dy"].median()))
    print(f"{len(images)} PublicTest faces, enlarged {args.upscale}x: one face found in {len(single)} "
          f"({len(single) / len(images):.1%}), none in {(found['found'] == 0).mean():.1%}, more than one in "
          f"{(found['found'] > 1).mean():.1%}; {len(images) / seconds:.0f} canvases/s")
    print("frame in box units, median [quartiles]: " + ", ".join(
        f"{k} {single[k].median():.3f} [{single[k].quantile(.25):.3f}, {single[k].quantile(.75):.3f}]"
        for k in ("scale", "dx", "dy")))

    classifier = predict.load_classifier(args.model)
    kept = single["face"].to_numpy()
    original = classifier.probabilities(images[kept]).argmax(1)
    rows = [{"scale": "original 48x48 faces", "agreement": 1.0,
             "accuracy": float((original == labels[kept]).mean())}]
    for multiple in SCALES:
        trial = faces.Framing(framing.scale * multiple, framing.dx, framing.dy)
        cut = np.stack([faces.crop(placed(images[i], args.upscale), box, trial)
                        for i, box in zip(kept, single["box"])])
        predicted = classifier.probabilities(cut).argmax(1)
        rows.append({"scale": round(trial.scale, 3), "agreement": float((predicted == original).mean()),
                     "accuracy": float((predicted == labels[kept]).mean())})
    table = pd.DataFrame(rows)
    print(f"the CNN ({classifier.source}) on the {len(kept)} faces found once, cut out again "
          f"(dx {framing.dx:.3f}, dy {framing.dy:.3f}):")
    print(table.round(4).to_string(index=False))
    best = table.iloc[1:].sort_values("agreement", ascending=False).iloc[0]
    print(f"chosen: Framing(scale={best['scale']}, dx={framing.dx:.3f}, dy={framing.dy:.3f}), agreement "
          f"{best['agreement']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
