"""`fer-report live`: a local web page that reads the expressions of the faces the browser's camera sees (or a
video file opened on the page, or photos dropped on it) through `fer-report predict`'s pipeline.

The server is a small Tornado application (Tornado ships with Jupyter, so a JupyterLab server already has it):
one page, and one WebSocket over which the page sends frames as JPEG and gets each frame's faces back as JSON
(box, number, top expression, the seven probabilities). The page draws the camera at its own rate and sends the
next frame only when the last one is answered, so faces are read as fast as the CPU allows and never queue up;
frames are read one at a time in a worker thread, so the page and the server stay responsive meanwhile."""

from __future__ import annotations

import asyncio
import json
import time
import webbrowser
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files

import cv2
import numpy as np

from . import faces
from .errors import UserError
from .labels import CLASS_NAMES
from .paths import LIVE_HOST, LIVE_PORT
from .video import Tracker, classified

PAGE = "live.html"  # beside this module
MAX_FRAME_BYTES = 8 << 20  # a frame larger than this is refused (a 4K JPEG is about 2 MB)


class FrameReader:
    """Reads frames for one page: finds and classifies their faces, and numbers them across frames (`Tracker`);
    a photo (`still`) gets numbers of its own."""

    def __init__(self, classifier, detector: str = faces.DETECTOR, min_face: int = faces.MIN_FACE):
        self.classifier, self.detector, self.min_face = classifier, detector, min_face
        self.tracker, self.started = Tracker(), time.monotonic()

    def read(self, jpeg: bytes, still: bool = False) -> dict:
        """The faces of one JPEG (or PNG) frame: {"faces": [{"number", "box", "top", "probabilities"}], "ms"},
        or {"error": one line} where it is not an image."""
        start = time.perf_counter()
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) if jpeg else None
        if image is None:
            return {"error": "the page sent a frame that is not an image"}
        boxes, probabilities = classified(self.classifier, image, self.min_face, self.detector)
        numbers = list(range(1, len(boxes) + 1)) if still else self.tracker.assign(boxes,
                                                                                  time.monotonic() - self.started)
        return {"faces": [{"number": int(n), "box": [int(v) for v in box], "top": CLASS_NAMES[int(p.argmax())],
                           "probabilities": [round(float(v), 4) for v in p]}
                          for n, box, p in zip(numbers, boxes, probabilities)],
                "width": int(image.shape[1]), "height": int(image.shape[0]),
                "ms": round((time.perf_counter() - start) * 1000, 1)}


def make_app(classifier, detector: str = faces.DETECTOR, min_face: int = faces.MIN_FACE):
    """The Tornado application: the page at /, the WebSocket at /faces (one FrameReader per connection)."""
    import tornado.web
    import tornado.websocket

    worker = ThreadPoolExecutor(max_workers=1)  # one frame at a time: the networks use every core already
    page = files(__package__).joinpath(PAGE).read_text(encoding="utf-8").replace(
        "__CLASSES__", json.dumps(list(CLASS_NAMES))).replace("__MODEL__", json.dumps(classifier.described()))

    class Page(tornado.web.RequestHandler):
        def get(self):
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.set_header("Cache-Control", "no-store")
            self.write(page)

    class Faces(tornado.websocket.WebSocketHandler):
        def open(self):
            self.reader = FrameReader(classifier, detector, min_face)
            self.set_nodelay(True)

        async def on_message(self, message):
            if isinstance(message, str):  # the page's one text message: the next frame is a dropped photo
                self.still = message == "photo"
                return
            still, self.still = getattr(self, "still", False), False
            answer = await asyncio.get_running_loop().run_in_executor(worker, self.reader.read, message, still)
            try:
                self.write_message(json.dumps(answer))
            except tornado.websocket.WebSocketClosedError:
                pass  # the page was closed while its frame was read

    return tornado.web.Application([(r"/", Page), (r"/faces", Faces)],
                                   websocket_max_message_size=MAX_FRAME_BYTES)


def serve(model=None, host: str = LIVE_HOST, port: int = LIVE_PORT, runtime: str = "auto",
          detector: str = faces.DETECTOR, open_browser: bool = True, echo=print) -> None:
    """`fer-report live`: load the model, serve the page on host:port until interrupted, and open it in the
    browser (where one can be opened)."""
    from .classifier import load_classifier

    if not 0 < port < 65536:
        raise UserError(f"--port must be between 1 and 65535, got {port}")
    faces.check_detector(detector)
    classifier = load_classifier(model, runtime=runtime)
    asyncio.run(_serve(classifier, host, port, detector, open_browser, echo))


async def _serve(classifier, host: str, port: int, detector: str, open_browser: bool, echo) -> None:
    app = make_app(classifier, detector)
    try:
        server = app.listen(port, address=host)
    except OSError as e:
        raise UserError(f"--port {port}: cannot listen on {host}:{port} ({e.strerror}); name another port") from None
    url = f"http://{'localhost' if host in ('127.0.0.1', 'localhost') else host}:{port}/"
    echo(f"fer-report live: {url} (model {classifier.described()}, views {classifier.views}, detector {detector}); "
         f"Ctrl-C stops it")
    if open_browser:
        webbrowser.open(url)
    try:
        await asyncio.Event().wait()
    finally:
        server.stop()
