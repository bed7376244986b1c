"""Text from outside (a job's output and errors, a cell, a file name) made safe to print on a terminal."""

from __future__ import annotations

import re

# escape sequences (CSI "ESC [ ... final", OSC "ESC ] ... BEL|ST", two-byte ESC x) and every other C0/C1
# control character except tab and newline: a job's log cannot clear the screen, retitle the window,
# move the cursor or hide what follows
_CONTROL = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -~]?)"
    r"|\x9b[0-?]*[ -/]*[@-~]?|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def printable(text: str) -> str:
    """``text`` without terminal escape sequences and control characters (tabs and newlines stay)."""
    return _CONTROL.sub("", text)


def printable_log(text: str) -> str:
    """A job's log as a terminal may show it: a carriage return (a progress bar redrawing its line) becomes a new
    line instead of letting later text overwrite earlier text; escapes and other controls go (``printable``)."""
    return printable(text.replace("\r\n", "\n").replace("\r", "\n"))
