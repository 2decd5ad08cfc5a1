"""Atomic writes: every file the package writes goes through `atomic_path`, which writes a partial file beside
the target and renames it into place, so a crash leaves either the old file or the new one, never half of one; and
the digest that says a file is the one written (`file_sha256`)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import uuid
from pathlib import Path

PARTIAL_PREFIX = ".partial-"  # partial files are named .partial-<token>-<target name>


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a partial path beside `path` (same suffix, so writers that check it are content) to write to; on
    success it replaces `path`, on an exception it is removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{PARTIAL_PREFIX}{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as partial:
        partial.write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike, value) -> Path:
    return write_text(path, json.dumps(value, indent=1) + "\n")


def write_bytes(path: str | os.PathLike, blob: bytes) -> Path:
    with atomic_path(path) as partial:
        partial.write_bytes(blob)
    return Path(path)


def remove_partials(folder: str | os.PathLike) -> int:
    """Delete the partial files a killed writer left in `folder`; returns how many."""
    found = [p for p in Path(folder).glob(f"{PARTIAL_PREFIX}*") if p.is_file()]
    for p in found:
        p.unlink()
    return len(found)


REASONS = {errno.EROFS: "is on a read-only file system: choose a writable place",
           errno.EACCES: "is not writable here (permission denied)", errno.EPERM: "is not writable here",
           errno.ENOTDIR: "lies under a file, not a folder", errno.EEXIST: "is a file, not a folder",
           errno.EISDIR: "is a folder, not a file", errno.ENOSPC: "has no space left on its device"}


def problem(error: OSError) -> str:
    """An OSError as one line for the user: the path, and what is wrong with it in words."""
    reason = REASONS.get(error.errno) or error.strerror or str(error)
    return f"{error.filename}: {reason}" if error.filename else reason
