"""FER2013 holds some images that are no faces: blank ones (one grey level) and placeholders of pictures that were
gone when it was collected (a warning sign, or "this image has been moved or deleted" in several languages, on a
bright ground). The rule that finds them looks at each image's histogram of grey levels."""

from __future__ import annotations

import numpy as np

BLANK_STD = 2.0  # blank: grey levels with a standard deviation below this
NEAR = 2  # a grey level and its neighbours within this many levels count as one tone
BRIGHT_GROUND = (200, 0.5)  # placeholder: a tone at or above 200 covering at least half of the image, or
DARK_AND_BRIGHT = (8, 200, 0.85)  # a tone below 8 and one at or above 200 covering 85% of it together


def non_faces(images: np.ndarray) -> dict[str, np.ndarray]:
    """Which of `images` (N, 48, 48) uint8 are no faces, by the rule above: {"blank": mask, "placeholder": mask}."""
    flat = images.reshape(len(images), -1)
    counts = np.bincount((flat.astype(np.int64) + 256 * np.arange(len(flat))[:, None]).ravel(),
                         minlength=256 * len(flat)).reshape(len(flat), 256)
    running = np.cumsum(np.pad(counts, ((0, 0), (NEAR + 1, NEAR))), axis=1)
    tone = (running[:, 2 * NEAR + 1:] - running[:, :-2 * NEAR - 1]) / flat.shape[1]  # share within NEAR of a level
    blank = flat.std(axis=1) < BLANK_STD
    dark_below, bright_from, together = DARK_AND_BRIGHT
    bright = tone[:, BRIGHT_GROUND[0]:].max(axis=1)
    placeholder = ((bright >= BRIGHT_GROUND[1]) |
                   (tone[:, :dark_below].max(axis=1) + tone[:, bright_from:].max(axis=1) >= together)) & ~blank
    return {"blank": blank, "placeholder": placeholder}


def is_face(images: np.ndarray) -> np.ndarray:
    """A mask of the images that `non_faces` does not flag."""
    found = non_faces(images)
    return ~(found["blank"] | found["placeholder"])
