"""What the tests ask of a message to the user: one line, from the command that printed it, holding the fragments
that are its contract (the path, the problem), not a whole sentence pinned word for word."""

from __future__ import annotations


def one_line(text: str, prog: str, *fragments: str) -> str:
    """The message of `text` (a command's stderr) after "`prog`: ", where `text` is that one line and holds every
    one of `fragments`."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: "), text
    message = lines[0][len(prog) + 2:]
    missing = [f for f in fragments if f not in message]
    assert not missing, f"{missing} not in {message!r}"
    return message
