"""MTCNN's face detection in numpy around its three networks, for the reader without TensorFlow
(`fer_utils.onnx_reader`): the image pyramid, the proposal network's candidate boxes, their refinement by the
second and third networks, the landmarks. It computes what the `mtcnn` package (1.0) computes on TensorFlow, step
for step (its area resizing, its bilinear crops, its suppression of overlapping boxes), so that both give the same
boxes; `tests/test_onnx.py` checks it on photos.

A network here is any function from a float32 batch (n, h, w, 3) to its list of outputs: the proposal network's
(box offsets, face/not-face probabilities) per cell, the refinement network's (offsets, probabilities) per
patch, the output network's (offsets, landmarks, probabilities) per patch."""

from __future__ import annotations

import cv2
import numpy as np

SCALE_FACTOR = 0.709  # each level of the image pyramid is this much smaller than the one before
CELL, STRIDE = 12, 2  # the proposal network's window and step, in pixels of its pyramid level
PATCH_SIDES = (24, 48)  # the refinement and output networks' input sides
OVERLAPS = {"pyramid level": 0.5, "pyramid": 0.7, "refinement": 0.7, "output": 0.7}  # suppression thresholds


def area_resized(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """`image` (h, w, c) resized to (height, width) in float32 by area averaging, each output pixel the mean of
    the input area it covers (OpenCV's area resizing equals TensorFlow's, which the `mtcnn` package uses, to
    float32 rounding)."""
    return cv2.resize(image.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)


def bilinear_patches(image: np.ndarray, boxes: np.ndarray, side: int) -> np.ndarray:
    """(n, side, side, c) float32 patches of `image` (h, w, c) sampled bilinearly over each box (x1, y1, x2, y2 in
    pixels), corner to corner, as the `mtcnn` package crops them: TensorFlow's crop_and_resize of the box divided
    by the image's size, in float32 as it computes; samples outside the image are 0."""
    height, width = image.shape[:2]
    image = image.astype(np.float32)
    y1, x1, y2, x2 = (boxes[:, [1, 0, 3, 2]] / [height, width, height, width]).astype(np.float32).T
    steps = np.arange(side, dtype=np.float32)
    ys = (y1 * np.float32(height - 1))[:, None] + steps * ((y2 - y1) * np.float32(height - 1) / np.float32(side - 1))[:, None]
    xs = (x1 * np.float32(width - 1))[:, None] + steps * ((x2 - x1) * np.float32(width - 1) / np.float32(side - 1))[:, None]
    inside = ((ys >= 0) & (ys <= height - 1))[:, :, None] & ((xs >= 0) & (xs <= width - 1))[:, None, :]
    top_y, left_x = np.floor(ys), np.floor(xs)
    y_lerp, x_lerp = (ys - top_y)[:, :, None, None], (xs - left_x)[:, None, :, None]
    top_y, left_x = top_y.astype(int).clip(0, height - 1), left_x.astype(int).clip(0, width - 1)
    bottom_y, right_x = np.ceil(ys).astype(int).clip(0, height - 1), np.ceil(xs).astype(int).clip(0, width - 1)
    top_rows, bottom_rows = top_y[:, :, None], bottom_y[:, :, None]
    left_cols, right_cols = left_x[:, None, :], right_x[:, None, :]
    top_left, top_right = image[top_rows, left_cols], image[top_rows, right_cols]
    bottom_left, bottom_right = image[bottom_rows, left_cols], image[bottom_rows, right_cols]
    top = top_left + (top_right - top_left) * x_lerp
    bottom = bottom_left + (bottom_right - bottom_left) * x_lerp
    return np.where(inside[..., None], top + (bottom - top) * y_lerp, np.float32(0)).astype(np.float32)


def suppressed(rows: np.ndarray, threshold: float, smaller: bool = False) -> np.ndarray:
    """`rows` (x1, y1, x2, y2, confidence, ...) in the order given, less each row that overlaps any row before it
    by more than `threshold`: intersection over union, or over the smaller box if `smaller` (the `mtcnn`
    package's rule: a row goes even when the row it overlaps went too)."""
    if len(rows) < 2:
        return rows
    x1, y1, x2, y2 = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    area = (x2 - x1) * (y2 - y1)
    overlap_w = np.clip(np.minimum(x2[:, None], x2[None]) - np.maximum(x1[:, None], x1[None]), 0, None)
    overlap_h = np.clip(np.minimum(y2[:, None], y2[None]) - np.maximum(y1[:, None], y1[None]), 0, None)
    inter = overlap_w * overlap_h
    base = np.minimum(area[:, None], area[None]) if smaller else area[:, None] + area[None] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        overlap = inter / base
    earlier = np.triu(np.ones((len(rows), len(rows)), bool), k=1)  # [i, j]: row i comes before row j
    return rows[~((overlap > threshold) & earlier).any(axis=0)]


def by_confidence(rows: np.ndarray) -> np.ndarray:
    """Rows sorted by their confidence (column 4), highest first."""
    return rows[np.argsort(rows[:, 4])[::-1]]


def squared(rows: np.ndarray) -> np.ndarray:
    """Rows whose boxes are made square about their centres, of their longer side."""
    rows = rows.copy()
    w, h = rows[:, 2] - rows[:, 0], rows[:, 3] - rows[:, 1]
    side = np.maximum(w, h)
    rows[:, 0] += (w - side) / 2
    rows[:, 1] += (h - side) / 2
    rows[:, 2], rows[:, 3] = rows[:, 0] + side, rows[:, 1] + side
    return rows


def refined(rows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Rows whose boxes are moved by a network's `offsets` (n, 4), in units of the box's side plus one pixel."""
    rows = rows.copy()
    w, h = rows[:, 2] - rows[:, 0] + 1, rows[:, 3] - rows[:, 1] + 1
    rows[:, :4] += offsets * np.stack([w, h, w, h], axis=1)
    return rows


def pyramid_scales(height: int, width: int, min_face: int) -> np.ndarray:
    """The scales of the image pyramid: from CELL / `min_face`, each SCALE_FACTOR times the one before, down to
    where the image's shorter side is about CELL pixels."""
    count = round(-(np.log(min(height, width) / CELL) / np.log(SCALE_FACTOR) + 1))
    return CELL / min_face * SCALE_FACTOR ** np.arange(count)


def proposals(proposal_network, image: np.ndarray, min_face: int, threshold: float) -> np.ndarray:
    """Candidate face boxes of the normalised image (h, w, 3): rows (x1, y1, x2, y2, confidence) in the image's
    pixels, one per window of each pyramid level whose face probability passes `threshold`, overlaps suppressed per
    level and across levels, made square."""
    found = []
    for scale in pyramid_scales(*image.shape[:2], min_face):
        level = area_resized(image, int(image.shape[0] * scale), int(image.shape[1] * scale))
        offsets, classes = proposal_network(level[np.newaxis])
        face = classes[0, :, :, 1]
        ys, xs = np.nonzero(face > threshold)
        corner = np.stack([xs, ys], axis=1) * STRIDE + 1.0
        boxes = np.hstack([corner, corner + CELL - 1]) + offsets[0, ys, xs] * (CELL - 1)
        level_rows = np.hstack([boxes / scale, face[ys, xs, None]])
        found.append(suppressed(by_confidence(level_rows), OVERLAPS["pyramid level"]))
    rows = np.concatenate(found) if found else np.zeros((0, 5))
    return squared(suppressed(by_confidence(rows), OVERLAPS["pyramid"]))


def detect(networks, rgb: np.ndarray, min_face: int = 20, thresholds=(0.6, 0.7, 0.8)) -> np.ndarray:
    """The faces MTCNN finds in an RGB uint8 photo with `networks` (proposal, refinement, output) and its three
    stages' `thresholds`: rows (x1, y1, x2, y2, confidence, then x of the eyes, the nose and the mouth's corners,
    then their y), boxes kept inside the photo."""
    proposal, refinement, output = networks
    image = (rgb.astype(np.float64) - 127.5) / 128
    rows = proposals(proposal, image, min_face, thresholds[0])
    if len(rows):
        offsets, classes = refinement(bilinear_patches(image, rows, PATCH_SIDES[0]))
        rows[:, 4] = classes[:, 1]
        rows = refined(rows, offsets)[classes[:, 1] > thresholds[1]]
        rows = squared(suppressed(by_confidence(rows), OVERLAPS["refinement"]))
    if not len(rows):
        return np.zeros((0, 15))
    offsets, landmarks, classes = output(bilinear_patches(image, rows, PATCH_SIDES[1]))
    w, h = rows[:, 2:3] - rows[:, 0:1] + 1, rows[:, 3:4] - rows[:, 1:2] + 1
    points = np.hstack([w * landmarks[:, :5] + rows[:, 0:1] - 1, h * landmarks[:, 5:] + rows[:, 1:2] - 1])
    rows[:, 4] = classes[:, 1]
    rows = np.hstack([refined(rows, offsets), points])[classes[:, 1] > thresholds[2]]
    rows = suppressed(by_confidence(rows), OVERLAPS["output"], smaller=True)
    height, width = rgb.shape[:2]
    rows[:, [0, 2]] = rows[:, [0, 2]].clip(0, width - 1)
    rows[:, [1, 3]] = rows[:, [1, 3]].clip(0, height - 1)
    return rows
