"""How fast `fer-report live` reads a camera on this machine: the server started as a user starts it (each runtime
in turn), its page opened in headless Chromium with a fake camera playing a 640x360 clip of scikit-image's
astronaut (one face, public domain), and the frames the page had read after a warm-up counted over `--seconds`.
With --screenshot, a picture of the page (the astronaut only; no FER2013 face) for docs/predict.md.

    python benchmarks/live_speed.py [--seconds 30] [--runtimes onnx keras] [--screenshot docs/live.png]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer_utils import faces, video  # noqa: E402
from tests.browser import Page, free_port, wait_for, write_y4m  # noqa: E402

WARM_UP = 5  # seconds before counting: the page connects, the camera starts, the networks warm


def astronaut_camera(folder: Path) -> Path:
    """A fake camera file: the astronaut's face on demo_clip's grey frame, 4 s at 10 frames/s."""
    grey = cv2.cvtColor(faces.read_photo(faces.sample_photo()), cv2.COLOR_RGB2GRAY)
    face = cv2.resize(grey[30:230, 110:310], (48, 48), interpolation=cv2.INTER_AREA)
    clip = video.demo_clip(folder / "astronaut.mp4", [face, face[:, ::-1]], seconds_each=2.0, fps=10)
    return write_y4m(clip, folder / "astronaut.y4m")


def frames_per_second(runtime: str, camera: Path, seconds: float, folder: Path, screenshot: Path | None) -> float:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "fer_utils.cli", "live", "--no-browser", "--port", str(port),
                               "--runtime", runtime], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/", timeout=120)
        page = Page(f"http://localhost:{port}/", folder / f"profile-{runtime}",
                    ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-video-capture={camera}"])
        try:
            time.sleep(WARM_UP)
            first, start = page.evaluate("window.feLive.reads"), time.monotonic()
            time.sleep(seconds)
            rate = (page.evaluate("window.feLive.reads") - first) / (time.monotonic() - start)
            if screenshot is not None:
                page.screenshot(screenshot)
            return rate
        finally:
            page.close()
    finally:
        server.kill()
        server.wait()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--runtimes", nargs="+", default=["onnx", "keras"])
    parser.add_argument("--screenshot", type=Path, help="write a screenshot of the page (the first runtime's) here")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp())
    camera = astronaut_camera(folder)
    for i, runtime in enumerate(args.runtimes):
        rate = frames_per_second(runtime, camera, args.seconds, folder, args.screenshot if i == 0 else None)
        print(f"{runtime}: {rate:.1f} frames/s read over {args.seconds:g} s (one face, 640x360 camera)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
