"""JupyterLab as users open the series: `jupyter lab` from the default install serves the notebooks and runs one on
the project's kernel, over the websocket protocol the browser speaks, with no error in the server's log."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from fer_utils import paths

BROWSER_PROTOCOL = "v1.kernel.websocket.jupyter.org"  # what JupyterLab's page asks the kernel websocket for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on the project's notebooks: (base URL, token); its log is checked when the test ends."""
    jupyter = Path(sys.executable).with_name("jupyter")
    assert jupyter.exists(), "jupyter is not in the environment: `make install` installs JupyterLab"
    port, token = free_port(), uuid.uuid4().hex
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    log = tmp_path / "lab.log"
    with open(log, "w") as out:
        server = subprocess.Popen([jupyter, "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--port={port}",
                                   "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                                   f"--ServerApp.root_dir={paths.NOTEBOOKS_DIR}",
                                   *(["--allow-root"] if os.geteuid() == 0 else [])], stdout=out, stderr=subprocess.STDOUT,
                                  env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                call(base, token, "GET", "/api/status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not start: {log.read_text()[-2000:]}")
                time.sleep(0.5)
        yield base, token
    finally:
        server.terminate()
        server.wait(timeout=60)
    text = log.read_text()
    assert "Traceback" not in text and "Uncaught exception" not in text, text[-3000:]


def call(base: str, token: str, method: str, path: str, body: dict | None = None):
    request = urllib.request.Request(base + path, method=method, headers={"Authorization": f"token {token}"},
                                     data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
    return json.loads(text) if text.lstrip().startswith(("{", "[")) else text


async def execute(base: str, token: str, kernel: str, session: str, code: str) -> str:
    """Run `code` on the kernel through its websocket with the browser's protocol; what it printed."""
    from jupyter_server.services.kernels.connection.base import (deserialize_msg_from_ws_v1,
                                                                 serialize_msg_to_ws_v1)
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    url = f"{base.replace('http', 'ws')}/api/kernels/{kernel}/channels?session_id={session}"
    socket_ = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {token}"}),
                                      subprotocols=[BROWSER_PROTOCOL])
    assert socket_.selected_subprotocol == BROWSER_PROTOCOL
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": session,
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "version": "5.3"}
    content = {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False,
               "stop_on_error": True}
    parts = [json.dumps(part).encode() for part in (header, {}, {}, content)]
    await socket_.write_message(serialize_msg_to_ws_v1(parts, "shell"), binary=True)
    printed = []
    while True:
        message = await socket_.read_message()
        assert message is not None, "the kernel websocket closed"
        _, parts = deserialize_msg_from_ws_v1(message)
        header, parent, _, content = (json.loads(p) for p in parts[:4])
        if parent.get("msg_id") != msg_id:
            continue
        if header["msg_type"] == "stream":
            printed.append(content["text"])
        elif header["msg_type"] == "error":
            pytest.fail(f"the cell failed: {content['ename']}: {content['evalue']}")
        elif header["msg_type"] == "execute_reply":
            socket_.close()
            return "".join(printed)


def test_jupyterlab_opens_a_notebook_on_the_projects_kernel(lab):
    base, token = lab
    assert "JupyterLab" in call(base, token, "GET", "/lab/tree/01_preprocessing.ipynb")
    notebook = "01_preprocessing.ipynb"
    kernel_name = json.loads((paths.NOTEBOOKS_DIR / notebook).read_text())["metadata"]["kernelspec"]["name"]
    session = call(base, token, "POST", "/api/sessions",
                   {"path": notebook, "type": "notebook", "name": notebook, "kernel": {"name": kernel_name}})
    try:
        printed = asyncio.run(asyncio.wait_for(execute(
            base, token, session["kernel"]["id"], session["id"],
            "import sys, fer_utils.session\nprint(sys.prefix)"), timeout=180))
    finally:
        call(base, token, "DELETE", f"/api/sessions/{session['id']}")
    assert printed.strip() == sys.prefix  # the project's environment, where its package imports
