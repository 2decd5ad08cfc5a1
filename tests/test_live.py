"""`fer-report live` for real: the server started as a user starts it, its page opened in headless Chromium with a
fake camera playing a clip made by `fer_utils.video.demo_clip`, and what the page shows read from its DOM; and
each way it can go wrong (no camera, a refused camera, the server gone, a dropped file that is not an image)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_utils import cli, data, faces, video
from fer_utils.classifier import load_classifier
from tests.browser import Page, chromium, free_port, wait_for, write_y4m
from tests.fer_files import real_fer2013

pytestmark = [pytest.mark.skipif(chromium() is None, reason="no Chromium (the CI installs it)"),
              pytest.mark.xdist_group("live")]
SHOWN = "document.getElementById('faces').innerText"
STATUS = "document.getElementById('status').innerText"


@pytest.fixture(scope="module")
def server():
    """`fer-report live` on a free port, with the committed ONNX export (it starts in a second)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "fer_utils.cli", "live", "--no-browser", "--port", str(port),
                                "--runtime", "onnx"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/")
        yield process, f"http://localhost:{port}/"
    finally:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def two_faces():
    """A happy and a surprised PublicTest face that the model reads clearly where demo_clip places them."""
    fer, classifier = real_fer2013(), load_classifier(runtime="onnx")
    chosen = []
    for wanted in ("happy", "surprise"):
        k = data.CLASS_NAMES.index(wanted)
        for face in fer.val.images[fer.val.labels == k][:60]:
            frame = np.full((360, 640), 128, np.uint8)
            frame[100:260, 220:380] = cv2.resize(face, (160, 160), interpolation=cv2.INTER_CUBIC)
            found, crops = faces.faces_in(frame)
            probabilities = classifier.probabilities(crops)
            if len(found) == 1 and probabilities[0].argmax() == k and probabilities[0].max() > 0.8:
                chosen.append(face)
                break
    faces.use_onnx_detector(None)
    assert len(chosen) == 2
    return chosen


def _camera(tmp_path: Path, clip: Path) -> list[str]:
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={write_y4m(clip, tmp_path / 'camera.y4m')}"]


def _watch(page: Page, expression: str, until, timeout: float = 90) -> list:
    """The values of `expression` in the page, polled every 0.1 s, until `until(values)` or `timeout` seconds."""
    values, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline and not until(values):
        values.append(page.evaluate(expression))
        time.sleep(0.1)
    return values


def _tops(shown: list[str]) -> list[str]:
    """The top expressions the page showed for its first face ('face 1: happy 97%'), consecutive repeats merged
    (the fake camera loops the clip, whose face then jumps back and takes a new number)."""
    tops = []
    for text in shown:
        line = next((l for l in (text or "").splitlines() if l.startswith("face ")), None)
        if line and (not tops or tops[-1] != line.split()[2]):
            tops.append(line.split()[2])
    return tops


def test_the_page_shows_the_cameras_face_read_as_its_expression_then_the_next(server, two_faces, tmp_path):
    _, url = server
    clip = video.demo_clip(tmp_path / "clip.mp4", two_faces, seconds_each=3.0, fps=10)
    page = Page(url, tmp_path / "profile", _camera(tmp_path, clip))
    try:
        started = time.monotonic()
        shown = _watch(page, SHOWN, lambda values: len(_tops(values)) >= 2)
        rate = page.evaluate("window.feLive.reads") / (time.monotonic() - started)
        assert _tops(shown)[:2] == ["happy", "surprise"], shown[-3:]
        assert "Reading the camera" in page.evaluate(STATUS)
        timeline = page.evaluate("document.getElementById('timeline').getContext('2d')"
                                 ".getImageData(940, 0, 20, 32).data.filter((v, i) => i % 4 === 0 && v < 250).length")
        assert timeline > 0  # the timeline's newest columns are coloured
        print(f"the page read {rate:.1f} frames/s")
    finally:
        page.close()


@pytest.mark.parametrize("flags, message", [
    (["--use-fake-device-for-media-stream", "--deny-permission-prompts"], "The camera was refused"),
    (["--use-fake-ui-for-media-stream"], "No camera to read"),
])
def test_a_camera_refused_or_absent_is_said_in_one_line(server, tmp_path, flags, message):
    _, url = server
    page = Page(url, tmp_path / "profile", flags)
    try:
        status = _watch(page, STATUS, lambda values: values and message in (values[-1] or ""), timeout=30)
        assert message in status[-1] and len(status[-1].splitlines()) == 1
    finally:
        page.close()


def test_files_that_are_not_images_are_named_and_a_photo_is_read(server, tmp_path):
    _, url = server
    page = Page(url, tmp_path / "profile", ["--use-fake-ui-for-media-stream"])
    photo = faces.read_photo(faces.sample_photo())
    _, png = cv2.imencode(".png", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    try:
        _watch(page, STATUS, lambda values: values and "camera" in (values[-1] or ""), timeout=30)
        page.evaluate('readFiles([new File(["hello"], "notes.txt", {type: "text/plain"})])')
        assert page.evaluate(STATUS) == "notes.txt: not a photo or a video (this page reads images and videos)"
        page.evaluate('readFiles([new File(["not a picture"], "fake.png", {type: "image/png"})])')
        assert _watch(page, STATUS, lambda v: v and "fake.png" in v[-1], 10)[-1] == \
            "fake.png: not an image this page can read"
        page.evaluate(f'fetch("data:image/png;base64,{__import__("base64").b64encode(png.tobytes()).decode()}")'
                      '.then(r => r.blob()).then(b => readFiles([new File([b], "astronaut.png", {type: "image/png"})]))')
        shown = _watch(page, SHOWN, lambda values: values and "face 1: happy" in (values[-1] or ""), 30)
        assert "face 1: happy" in shown[-1]
    finally:
        page.close()


def test_a_page_left_open_says_when_the_server_stops(tmp_path):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "fer_utils.cli", "live", "--no-browser", "--port", str(port),
                                "--runtime", "onnx"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/")
        page = Page(f"http://localhost:{port}/", tmp_path / "profile", ["--use-fake-ui-for-media-stream"])
        try:
            _watch(page, STATUS, lambda values: values and "camera" in (values[-1] or ""), timeout=30)
            process.kill()
            status = _watch(page, STATUS, lambda values: values and "server stopped" in (values[-1] or ""), 30)
            assert status[-1].startswith("The server stopped")
        finally:
            page.close()
    finally:
        process.kill()
        process.wait()


def test_a_port_in_use_and_a_bad_option_are_one_line(server, capsys):
    taken = int(server[1].rsplit(":", 1)[1].strip("/"))
    try:
        assert cli.main(["live", "--no-browser", "--port", str(taken), "--runtime", "onnx"]) == 1
    finally:
        faces.use_onnx_detector(None)  # the onnx runtime's detector, set while loading: TensorFlow's again
    assert f"--port {taken}: cannot listen" in capsys.readouterr().err
    assert cli.main(["live", "--no-browser", "--port", "70000"]) == 1
    assert "--port must be between 1 and 65535" in capsys.readouterr().err
