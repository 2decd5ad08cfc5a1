"""`fer-report predict` on tilted portraits, several faces, videos made here from FER2013 faces, and every kind of
bad photo and video input."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer_utils import data, faces, predict, video
from tests.fer_files import real_fer2013

from .test_predict import ASTRONAUT, COFFEE, classifier, run  # noqa: F401  (classifier: the module's fixture)


def turned(photo: np.ndarray, angle: float) -> np.ndarray:
    """The photo turned by `angle` degrees about its centre (counter-clockwise), its edges repeated."""
    height, width = photo.shape[:2]
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle, 1.0)
    return cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("angle", [30, 45, -30])
def test_a_tilted_portrait_gives_one_face_aligned_and_read_as_upright(classifier, angle):
    photo = faces.read_photo(ASTRONAUT)
    upright, upright_crops = faces.faces_in(photo)
    found, crops = faces.faces_in(turned(photo, angle))
    assert len(upright) == 1 and len(found) == 1
    assert found[0].tilt - upright[0].tilt == pytest.approx(-angle, abs=8)  # the eyes turned with the photo
    before, after = classifier.probabilities(upright_crops)[0], classifier.probabilities(crops)[0]
    assert after.argmax() == before.argmax() == data.CLASS_NAMES.index("happy")
    assert np.corrcoef(crops[0].ravel(), upright_crops[0].ravel())[0, 1] > 0.9  # aligned: the same face


def test_the_haar_cascade_stays_available_and_misses_the_face_tilted_30_degrees():
    photo = faces.read_photo(ASTRONAUT)
    found = faces.detect(photo, detector="haar")
    assert len(found) == 1 and found[0].landmarks is None and found[0].tilt is None
    assert faces.detect(turned(photo, 30), detector="haar") == []


def test_two_faces_side_by_side_give_two(tmp_path, capsys):
    photo = faces.read_photo(ASTRONAUT)
    pair = np.hstack([photo, photo[:, ::-1]])
    Image.fromarray(pair).save(tmp_path / "pair.png")
    code, out, err = run(capsys, tmp_path / "pair.png", "--out", tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / predict.CSV_NAME)
    assert code == 0 and len(table) == 2 and "2 faces" in out
    assert sorted(table["x"] // 512) == [0, 1]  # one in each half


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` grey pixels (what a decompression bomb's header says)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    pixels = zlib.compress(b"\0" * 64)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


def test_an_image_too_large_to_decode_gets_one_line_and_the_rest_is_done(tmp_path, capsys):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(20000, 20000))
    code, out, err = run(capsys, bomb, ASTRONAUT, "--out", tmp_path / "out")
    lines = err.splitlines()
    assert code == 1 and len(lines) == 1 and str(bomb) in lines[0]
    assert "too large to decode safely (20000x20000 = 400 megapixels; the limit is 89)" in lines[0]
    assert len(pd.read_csv(tmp_path / "out" / predict.CSV_NAME)) == 1


def test_the_first_frame_of_a_gif_and_of_a_multi_page_tiff_is_read(tmp_path, capsys):
    rgb = Image.open(ASTRONAUT).convert("RGB")
    folder = tmp_path / "in"
    folder.mkdir()
    rgb.save(folder / "a.gif", save_all=True, append_images=[Image.open(COFFEE).convert("RGB")])
    rgb.save(folder / "a.tiff", save_all=True, append_images=[Image.open(COFFEE).convert("RGB")])
    code, out, err = run(capsys, folder, "--out", tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / predict.CSV_NAME)
    assert code == 0, err
    assert sorted(Path(f).name for f in table["file"]) == ["a.gif", "a.tiff"]


def test_a_folder_with_other_files_names_each_and_reads_the_rest(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello\n")
    (folder / ".hidden").write_text("")
    Image.open(ASTRONAUT).save(folder / "a.png")
    code, out, err = run(capsys, folder, "--out", tmp_path / "out")
    assert code == 1 and err.splitlines() == [f"fer-report predict: {folder / 'notes.txt'}: not a photo or video this "
                                              f"command reads (photos: {' '.join(faces.PHOTO_SUFFIXES)}; videos: "
                                              f"{' '.join(video.VIDEO_SUFFIXES)})"]
    assert len(pd.read_csv(tmp_path / "out" / predict.CSV_NAME)) == 1


@pytest.mark.parametrize("option, value, named", [("--every", "0", "--every"), ("--min-face", "-5", "--min-face"),
                                                  ("--detector", "dlib", "--detector")])
def test_a_bad_option_gets_one_line_naming_it(tmp_path, capsys, option, value, named):
    code, out, err = run(capsys, ASTRONAUT, option, value, "--out", tmp_path / "out")
    assert code == 1 and len(err.splitlines()) == 1 and err.startswith(f"fer-report predict: {named}")
    assert not (tmp_path / "out").exists()


def _write_video(path: Path, frames, fps: float = 10.0, fourcc: str = "mp4v") -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, frames[0].shape[1::-1])
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def _frame(face: np.ndarray, x: int = 240, y: int = 60, side: int = 160) -> np.ndarray:
    """A 640x360 BGR frame with a FER2013 face enlarged to `side` px at (x, y) on a mid-grey background."""
    frame = np.full((360, 640, 3), 128, np.uint8)
    frame[y:y + side, x:x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)[..., None]
    return frame


@pytest.fixture(scope="module")
def two_expressions(classifier):
    """Two PublicTest faces of different expressions that the model reads clearly, found once as video frames."""
    fer = real_fer2013()
    chosen = {}
    for wanted in ("happy", "surprise"):
        k = data.CLASS_NAMES.index(wanted)
        for face in fer.val.images[fer.val.labels == k][:40]:
            found, crops = faces.faces_in(cv2.cvtColor(_frame(face), cv2.COLOR_BGR2RGB))
            if len(found) == 1 and classifier.probabilities(crops)[0].max() > 0.8 and \
                    classifier.probabilities(crops)[0].argmax() == k:
                chosen[wanted] = face
                break
    assert len(chosen) == 2, chosen.keys()
    return chosen


def test_a_clip_of_two_expressions_gives_a_timeline_that_switches(tmp_path, capsys, two_expressions):
    happy, surprise = two_expressions["happy"], two_expressions["surprise"]
    frames = [_frame(happy, x=230 + i) for i in range(10)] + [_frame(surprise, x=240 + i) for i in range(10)]
    clip = _write_video(tmp_path / "clip.mp4", frames)
    code, out, err = run(capsys, clip, "--out", tmp_path / "out", "--every", "2", "--annotate")
    assert code == 0, err
    timeline = pd.read_csv(tmp_path / "out" / predict.TIMELINE_NAME)
    assert list(timeline.columns) == video.TIMELINE_COLUMNS
    assert list(timeline["frame"]) == list(range(0, 20, 2)) and set(timeline["face"]) == {1}  # one person, from 1
    assert timeline["time"].iloc[1] == pytest.approx(0.2)
    assert list(timeline["top"]) == ["happy"] * 5 + ["surprise"] * 5
    assert ("face 1: seen in 10 frames read over 2.0 s; share of those frames by top expression: happy 50%, "
            "surprise 50%") in out  # 10 frames read, one in 2 at 10 frames/s
    assert "1 face in 1 video read;" in out
    assert (tmp_path / "out" / "clip-timeline.png").stat().st_size > 10_000
    annotated = cv2.VideoCapture(str(tmp_path / "out" / "clip-annotated.mp4"))
    assert annotated.get(cv2.CAP_PROP_FRAME_COUNT) == 20
    assert not list((tmp_path / "out").glob(".partial-*"))


def test_no_output_overwrites_another(tmp_path, capsys):
    """A video clip.mp4 beside a photo named clip-timeline.png: the photo's annotated copy and the video's figure
    get names of their own, and each line names its own file."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    photo = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    _write_video(inputs / "clip.mp4", [cv2.cvtColor(photo, cv2.COLOR_RGB2BGR)] * 3)
    Image.fromarray(photo).save(inputs / "clip-timeline.png")
    code, out, err = run(capsys, inputs, "--out", tmp_path / "out")
    assert code == 0, err
    written = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert len(written) == 2 and "clip-timeline.png" in written, written
    named = [line.rsplit("-> ", 1)[1].split(",")[0] for line in out.splitlines() if "-> " in line]
    assert len(named) == 2 and len(set(named)) == 2, out


def test_faces_keep_their_numbers_across_frames():
    tracker = video.Tracker(gap=1.0)
    assert tracker.assign([(0, 0, 100, 100), (300, 0, 100, 100)], 0.0) == [1, 2]  # numbered from 1, as on photos
    assert tracker.assign([(305, 5, 100, 100), (8, 0, 100, 100)], 0.1) == [2, 1]  # moved a little, listed swapped
    assert tracker.assign([(600, 0, 100, 100)], 0.2) == [3]  # someone new
    assert tracker.assign([(0, 0, 100, 100)], 2.0) == [4]  # face 1 was gone too long


def test_a_face_seen_in_a_frame_or_two_is_not_summarised_as_an_expression():
    rows = [{"face": 1, "time": t / 10, "top": "happy"} for t in range(40)] + \
        [{"face": 2, "time": 1.0, "top": "angry"}]
    clip = video.VideoResult(Path("v.mp4"), pd.DataFrame(rows), fps=10.0, frames_read=40, frames_stated=40)
    one, two = clip.summaries()
    assert one == "face 1: seen in 40 frames read over 4.0 s; share of those frames by top expression: happy 100%"
    assert two == "face 2: seen in only 1 frame read (1.0-1.1 s; top: angry): too brief to summarise"


def test_a_video_shows_progress_with_frames_per_second(tmp_path, classifier):
    clip = _write_video(tmp_path / "grey.avi", [np.full((120, 160, 3), 90, np.uint8)] * 6, fourcc="MJPG")
    stream = io.StringIO()
    result = video.read_video(classifier, clip, progress=stream)
    assert result.frames_read == 6 and result.timeline.empty and not result.truncated
    shown = stream.getvalue()  # e.g. "grey.avi:  83%|########3 | 5/6 [00:00<00:00, 20.88frame/s]"
    assert "/6 [" in shown and "frame/s]" in shown and "<00:0" in shown  # frames, time left, frames per second


def test_bad_videos_get_one_line_each_and_the_rest_is_done(tmp_path, capsys):
    coffee = cv2.cvtColor(faces.read_photo(COFFEE), cv2.COLOR_RGB2BGR)
    whole = _write_video(tmp_path / "whole.avi", [coffee] * 40, fourcc="MJPG")
    (tmp_path / "cut.avi").write_bytes(whole.read_bytes()[:int(whole.stat().st_size * 0.6)])
    (tmp_path / "text.mp4").write_text("not a video\n")
    _write_video(tmp_path / "noface.mp4", [coffee] * 3)
    cv2.VideoWriter(str(tmp_path / "empty.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 64)).release()
    code, out, err = run(capsys, tmp_path / "cut.avi", tmp_path / "text.mp4", tmp_path / "noface.mp4",
                         tmp_path / "empty.mp4", ASTRONAUT, "--out", tmp_path / "out", "--annotate")
    lines = err.splitlines()
    assert code == 1 and len(lines) == 5, err  # the cut video: truncated, and no face in it
    assert any(f"{tmp_path / 'cut.avi'}: truncated: decoding stopped after frame " in line and " of the 40 " in line
               for line in lines)
    assert any(line.startswith(f"fer-report predict: {tmp_path / 'text.mp4'}: cannot be opened") for line in lines)
    assert f"fer-report predict: {tmp_path / 'noface.mp4'}: no face found in any frame read" in err
    assert any(line.startswith(f"fer-report predict: {tmp_path / 'empty.mp4'}: ") for line in lines)  # no frames
    assert len(pd.read_csv(tmp_path / "out" / predict.CSV_NAME)) == 1  # the astronaut
    assert pd.read_csv(tmp_path / "out" / predict.TIMELINE_NAME).empty
    assert not list((tmp_path / "out").glob(".partial-*")) and not (tmp_path / "out" / "text-annotated.mp4").exists()


def test_mtcnn_runs_the_same_on_tensorflow_ops_for_other_keras_backends():
    """Under Keras' JAX backend MTCNN's networks are computed by `faces.tensorflow_network`: the same outputs as
    the Keras models themselves (checked here on TensorFlow) for each of its three networks."""
    rng = np.random.default_rng(0)
    for stage, shape in zip(faces._mtcnn().stages, [(1, 57, 83, 3), (7, 24, 24, 3), (5, 48, 48, 3)]):
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        expected, computed = stage._model(x), faces.tensorflow_network(stage._model)(x)
        assert len(computed) == len(expected) in (2, 3)
        for a, b in zip(expected, computed):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-5)
