"""The annotated photo of `fer-report predict`, drawn in pixels with Pillow (a batch of photos pays no figure
machinery per photo, and reading faces needs no plotting library): the photo with a numbered box and the top
expression per face, and a row per face with the face the model saw and its seven probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .labels import CLASS_NAMES


def annotated_photo(photo: np.ndarray, boxes: np.ndarray, probabilities: np.ndarray, crops: np.ndarray,
                    saliency: np.ndarray | None = None, max_faces: int = 8, width: int = 640):
    """The photo (scaled to `width` pixels) with a numbered box and the top expression per face, and below it one
    row per face (the first `max_faces`): the 48x48 face the model saw, its saliency overlay if given, and the
    seven probabilities as bars. Drawn with Pillow, directly in pixels (a batch of photos pays no figure
    machinery per photo); returns a PIL image for `save_image`."""
    from PIL import Image, ImageDraw, ImageFont

    font, small = ImageFont.load_default(size=15), ImageFont.load_default(size=12)
    scale = width / photo.shape[1]
    shown = Image.fromarray(np.asarray(photo, dtype=np.uint8)).convert("RGB").resize(
        (width, max(1, round(photo.shape[0] * scale))), Image.Resampling.BILINEAR)
    rows = min(len(boxes), max_faces)
    face, row_height, title_height = 112, 124, 28
    canvas = Image.new("RGB", (width, title_height + shown.height + rows * row_height + (8 if rows else 0)), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((width // 2, 6), f"{len(boxes)} face{'' if len(boxes) == 1 else 's'} found" if len(boxes)
              else "no face found", fill="black", font=font, anchor="mt")
    canvas.paste(shown, (0, title_height))
    for i, ((x, y, w, h), probs) in enumerate(zip(boxes, probabilities), start=1):
        left, top = x * scale, title_height + y * scale
        draw.rectangle([left, top, left + w * scale, top + h * scale], outline=(255, 215, 0), width=3)
        label = f"{i} {CLASS_NAMES[int(probs.argmax())]} {probs.max():.0%}"
        box = draw.textbbox((left, top), label, font=small, anchor="lb")
        draw.rectangle([box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2], fill=(255, 215, 0))
        draw.text((left, top), label, fill="black", font=small, anchor="lb")
    for row in range(rows):
        top = title_height + shown.height + 8 + row * row_height
        crop = Image.fromarray(np.asarray(crops[row], dtype=np.uint8)).resize((face, face), Image.Resampling.NEAREST)
        canvas.paste(crop.convert("RGB"), (8, top))
        draw.text((8, top + face), f"face {row + 1}", fill="black", font=small, anchor="lt")
        bars_left = 8 + face + 12
        if saliency is not None:
            from matplotlib import colormaps  # only with saliency maps, which need Keras anyway

            inferno = colormaps["inferno"]
            heat = np.asarray(saliency[row], dtype=np.float64)
            heat = np.clip((heat - heat.min()) / ((np.percentile(heat, 99) - heat.min()) or 1), 0, 1)
            colour = (inferno(heat)[..., :3] * 255).astype(np.uint8)
            grey = np.repeat(np.asarray(crops[row], dtype=np.float64)[..., None], 3, axis=2)
            overlay = Image.fromarray((0.45 * grey + 0.55 * colour).astype(np.uint8))
            canvas.paste(overlay.resize((face, face), Image.Resampling.NEAREST), (bars_left, top))
            draw.text((bars_left, top + face), "saliency", fill="black", font=small, anchor="lt")
            bars_left += face + 12
        top_class, length = int(probabilities[row].argmax()), width - bars_left - 150
        for k, (name, p) in enumerate(zip(CLASS_NAMES, probabilities[row])):
            y = top + 4 + k * 16
            draw.text((bars_left + 64, y + 6), name, fill="black", font=small, anchor="rm")
            colour = (230, 126, 34) if k == top_class else (52, 110, 180)
            draw.rectangle([bars_left + 70, y, bars_left + 70 + max(1.0, p * length), y + 11], fill=colour)
            draw.text((bars_left + 76 + p * length, y + 6), f"{p:.0%}", fill="black", font=small, anchor="lm")
    return canvas


def save_image(image, name: str, folder: str | Path) -> Path:
    """Write a PIL image as `<folder>/<name>.png` (fast compression: a batch of photos writes many) and return the
    path."""
    path = Path(folder) / f"{name}.png"
    with atomic_path(path) as partial:
        image.save(partial, format="PNG", compress_level=3)
    return path
