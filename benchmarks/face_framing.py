"""How FER2013 frames a face, measured against each face detector, for `fer_utils.faces.FRAMINGS`, and how well
detection, alignment and cropping keep the tuned CNN's answers on upright and tilted faces.

Each PublicTest face is enlarged --upscale times and placed in the middle of a canvas twice its size (the
border repeats the face's edge pixels), so where FER2013's frame lies in the canvas is known. The detector runs
on the canvas. For every face found exactly once, the frame is measured in units of the detector's box width:
its side (scale) and its centre's offset from the box's centre (dx, dy). The medians give the framing.

The check that picks the scale: each detected face is cut out again with the measured framing at a range of
scales, and the CNN (with its test-time views chosen on val) classifies the cut-outs; the scale whose answers
agree most often with the CNN's on the original 48x48 faces wins (accuracy against the labels beside). Then the
canvases are turned by each of --angles degrees about the face's centre: how often the face is found exactly
once, and the CNN's accuracy on those faces cut out with the measured framing, beside its accuracy on the same
faces' originals (MTCNN's faces are turned level on their eyes first).

    python benchmarks/face_framing.py [--data PATH] [--model FILE_OR_RUN] [--detector mtcnn haar] [--limit 0]
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

from fer_utils import data, faces, predict, profiles  # noqa: E402
SCALES = (0.9, 1.0, 1.05, 1.1, 1.15, 1.2, 1.3)  # multiples of the measured framing tried by the check
ANGLES = (15, 30, 45)


def placed(face: np.ndarray, upscale: int, angle: float = 0) -> np.ndarray:
    """A 48x48 face enlarged `upscale` times in the middle of a canvas twice that size (edges repeated), turned
    by `angle` degrees (counter-clockwise, as OpenCV's) about the face's centre."""
    big = cv2.resize(face, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    border = big.shape[0] // 2
    canvas = cv2.copyMakeBorder(big, border, border, border, border, cv2.BORDER_REPLICATE)
    if not angle:
        return canvas
    centre = ((canvas.shape[1] - 1) / 2, (canvas.shape[0] - 1) / 2)
    turn = cv2.getRotationMatrix2D(centre, angle, 1.0)
    return cv2.warpAffine(canvas, turn, canvas.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def measure(images: np.ndarray, upscale: int, detector: str, angle: float = 0) -> tuple[pd.DataFrame, list]:
    """Per face: how many faces the detector found, and for single finds the frame in box units (upright
    canvases). Also the single finds themselves (None otherwise)."""
    side = data.IMAGE_SIDE * upscale
    centre = side  # the canvas is 2 * side wide; the face's frame is centred
    rows, single = [], []
    for i, face in enumerate(images):
        found = faces.detect(placed(face, upscale, angle), min_face=side // 4, detector=detector)
        row = {"face": i, "found": len(found)}
        if len(found) == 1:
            x, y, w, h = found[0].box
            row.update(scale=side / w, dx=(centre - (x + w / 2)) / w, dy=(centre - (y + h / 2)) / w)
        rows.append(row)
        single.append(found[0] if len(found) == 1 else None)
    return pd.DataFrame(rows), single


def cut_all(images, found, kept, upscale, framing: faces.Framing, angle=0, multiple=1.0) -> np.ndarray:
    """The kept faces cut out of their canvases with `framing` at `multiple` times its scale."""
    return np.stack([faces.cut(placed(images[i], upscale, angle), found[i], multiple, framing) for i in kept])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="FER2013 file or folder (default: $FER2013_DATA, then data/)")
    parser.add_argument("--model", help="a .keras file or run folder (default: the committed model best on val)")
    parser.add_argument("--detector", nargs="+", default=list(faces.DETECTORS), choices=faces.DETECTORS)
    parser.add_argument("--upscale", type=int, default=4)
    parser.add_argument("--angles", type=float, nargs="*", default=list(ANGLES))
    parser.add_argument("--limit", type=int, default=0, help="use only the first N PublicTest faces")
    args = parser.parse_args(argv)
    fer = data.load_fer2013(profiles.resolve_data(args.data))
    images, labels = fer.val.images, fer.val.labels
    if args.limit:
        images, labels = images[:args.limit], labels[:args.limit]
    classifier = predict.load_classifier(args.model)
    original = classifier.probabilities(images).argmax(1)
    print(f"{len(images)} PublicTest faces, enlarged {args.upscale}x; the CNN ({classifier.source}, views "
          f"{classifier.views}) on the original 48x48 faces: accuracy {np.mean(original == labels):.2%}")
    summary = []
    for detector in args.detector:
        start = time.perf_counter()
        table, found = measure(images, args.upscale, detector)
        seconds = time.perf_counter() - start
        single = table[table["found"] == 1]
        kept = single["face"].to_numpy()
        print(f"\n{detector}: one face found in {len(single)} ({len(single) / len(images):.1%}), none in "
              f"{(table['found'] == 0).mean():.1%}, more than one in {(table['found'] > 1).mean():.1%}; "
              f"{len(images) / seconds:.1f} canvases/s")
        framing = faces.Framing(float(single["scale"].median()), float(single["dx"].median()),
                                float(single["dy"].median()))
        print("frame in box units, median [quartiles]: " + ", ".join(
            f"{k} {single[k].median():.3f} [{single[k].quantile(.25):.3f}, {single[k].quantile(.75):.3f}]"
            for k in ("scale", "dx", "dy")))
        rows = [{"scale": "original 48x48 faces", "agreement": 1.0,
                 "accuracy": float((original[kept] == labels[kept]).mean())}]
        for multiple in SCALES:
            predicted = classifier.probabilities(cut_all(images, found, kept, args.upscale, framing,
                                                         multiple=multiple)).argmax(1)
            rows.append({"scale": multiple, "agreement": float((predicted == original[kept]).mean()),
                         "accuracy": float((predicted == labels[kept]).mean())})
        scales = pd.DataFrame(rows)
        print(f"the CNN on the {len(kept)} faces found once, cut out again at multiples of the measured framing:")
        print(scales.round(4).to_string(index=False))
        best = float(scales.iloc[1:].sort_values("agreement", ascending=False).iloc[0]["scale"])
        print(f"best multiple: {best:g}")
        summary.append({"detector": detector, "tilt": 0, "found once": len(kept) / len(images),
                        "accuracy, cut out": float(scales.loc[scales["scale"] == 1.0, "accuracy"].iloc[0]),
                        "accuracy, originals": rows[0]["accuracy"],
                        "agreement": float(scales.loc[scales["scale"] == 1.0, "agreement"].iloc[0])})
        for angle in args.angles:
            table, found = measure(images, args.upscale, detector, angle)
            kept = table.loc[table["found"] == 1, "face"].to_numpy()
            predicted = classifier.probabilities(cut_all(images, found, kept, args.upscale, framing, angle)).argmax(1) \
                if len(kept) else np.zeros(0, int)
            summary.append({"detector": detector, "tilt": angle, "found once": len(kept) / len(images),
                            "accuracy, cut out": float((predicted == labels[kept]).mean()) if len(kept) else np.nan,
                            "accuracy, originals": float((original[kept] == labels[kept]).mean()) if len(kept)
                            else np.nan,
                            "agreement": float((predicted == original[kept]).mean()) if len(kept) else np.nan})
    summary = pd.DataFrame(summary)
    summary["difference (points)"] = 100 * (summary["accuracy, cut out"] - summary["accuracy, originals"])
    print(f"\nfound once, and the CNN's accuracy on the faces found once (cut out at the measured framing) beside "
          f"its accuracy on their originals; {len(images)} PublicTest faces:")
    print(summary.round(4).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
