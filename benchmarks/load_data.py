"""Load time of FER2013 in each accepted form: decoding without the cache (cold) and from the .npz cache.

    python benchmarks/load_data.py [--source PATH] [--repeat 3] [--workdir DIR]

The source (default: $FER2013_DATA, then data/) is loaded once, then written out in the other forms
(fer2013.csv, icml_face_data.csv, train.csv, and the image folder if the source is the image zip) in a
scratch folder, and each form is timed. Prints the median of --repeat runs per form.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer_utils import data  # noqa: E402

PIXEL_TEXT = [str(v) for v in range(256)]
SPLIT_USAGE = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}


def pixel_rows(images: np.ndarray) -> list[str]:
    return [" ".join([PIXEL_TEXT[v] for v in row]) for row in images.reshape(len(images), -1).tolist()]


def write_forms(ds: data.FER2013, source: Path, folder: Path) -> dict[str, Path]:
    """The forms to time: the source itself plus the CSV forms (and the extracted image folder)."""
    forms = {f"source ({source.name})": source}
    splits = ds.splits()
    usage = np.concatenate([[SPLIT_USAGE[name]] * len(s) for name, s in splits.items()])
    labels = np.concatenate([s.labels for s in splits.values()])
    pixels = pixel_rows(np.concatenate([s.images for s in splits.values()]))
    if not ds.val_carved:
        with open(folder / "fer2013.csv", "w") as fh:
            fh.write("emotion,pixels,Usage\n")
            fh.writelines(f"{l},{p},{u}\n" for l, p, u in zip(labels, pixels, usage))
        with open(folder / "icml_face_data.csv", "w") as fh:
            fh.write("emotion, Usage, pixels\n")
            fh.writelines(f"{l},{u},{p}\n" for l, p, u in zip(labels, pixels, usage))
        forms["fer2013.csv"], forms["icml_face_data.csv"] = folder / "fer2013.csv", folder / "icml_face_data.csv"
    with open(folder / "train.csv", "w") as fh:
        fh.write("label,feature\n")
        fh.writelines(f"{l},{p}\n" for l, p, u in zip(labels, pixels, usage) if u == "Training")
    forms["train.csv"] = folder / "train.csv"
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            zf.extractall(folder / "images")
        forms["image folder"] = folder / "images"
    return forms


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", help="FER2013 file or folder (default: $FER2013_DATA, then data/)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per form; the median is printed")
    parser.add_argument("--workdir", help="scratch folder for the written forms (default: a temp folder)")
    args = parser.parse_args()

    logging.getLogger("fer_utils").setLevel(logging.ERROR)  # the carve notice would repeat on every run
    source = data.resolve_source(args.source)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        scratch = Path(tmp)
        ds = data.load_fer2013(source, use_cache=False)
        forms = write_forms(ds, source, scratch)
        print(f"{'form':<28}{'faces':>8}{'cold (s)':>10}{'cached (s)':>12}   median of {args.repeat}")
        for i, (name, path) in enumerate(forms.items()):
            cache = scratch / f"cache-{i}"
            faces = sum(len(s) for s in data.load_fer2013(path, cache_dir=cache).splits().values())
            cold = statistics.median(timed(lambda: data.load_fer2013(path, use_cache=False))
                                     for _ in range(args.repeat))
            cached = statistics.median(timed(lambda: data.load_fer2013(path, cache_dir=cache))
                                       for _ in range(args.repeat))
            print(f"{name:<28}{faces:>8}{cold:>10.2f}{cached:>12.3f}")


if __name__ == "__main__":
    main()
