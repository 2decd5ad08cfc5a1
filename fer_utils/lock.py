"""One writer per folder: a series run holds its run folder's lock, a training its model's, so that a second one
started on the same folder is told who holds it and stops instead of writing beside it. The lock is the
operating system's (an advisory `flock` on a small file), so a process that dies, however it dies, releases it,
and the next one takes it over; the file only says who held it last."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from .errors import UserError


class FolderInUse(UserError):
    """The folder is held by another process; the message is one line naming it."""


@contextlib.contextmanager
def holding(path: str | os.PathLike, what: str, folder: str | os.PathLike | None = None):
    """Hold the lock file `path` (created if missing) while the block runs; `what` says what holds it, in the
    message another process gets, which names `folder` (default: the lock file's folder) as in use. FolderInUse if
    another process holds it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            try:
                holder = json.loads(handle.read())
                who = f"{holder['what']} (process {holder['pid']} on {holder['host']}, started {holder['started']})"
            except (ValueError, KeyError):
                who = "another process"
            raise FolderInUse(f"{folder or path.parent} is in use by {who}: wait for it to finish, or stop "
                              f"it") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"what": what, "pid": os.getpid(), "host": socket.gethostname(),
                                 "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)}))
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock
