"""Text for a terminal: control characters from articles, file names or users made visible, never obeyed.

An article holding ``ESC ] 0 ; PWNED BEL`` would otherwise set the window title when ``qa list``
prints it, and ``ESC [ 2 J`` would clear the screen. Every line the CLI prints for people passes
through ``printable``; JSON output does not (``json.dumps`` escapes C0 controls itself, and its
content must stay exact).

Example:
    >>> printable("Title\\x1b]0;PWNED\\x07")
    'Title\\\\x1b]0;PWNED\\\\x07'
"""

from __future__ import annotations

import re
import sys

# C0 and C1 controls and DEL; line/paragraph separators; bidirectional overrides and isolates, which
# reorder what the terminal shows (a file name that reads backwards).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, newlines: bool = True) -> str:
    """``text`` with every control character written as an escape (``\\x1b``); newlines kept where ``newlines``.

    Tabs are escaped too; with ``newlines`` False, so are newlines, for text that must stay on one line.
    """
    if newlines:
        return "\n".join(_UNSAFE.sub(_visible, line) for line in text.split("\n"))
    return _UNSAFE.sub(_visible, text)


def say(text: str, *, err: bool = False, newlines: bool = True) -> None:
    """Print ``text`` for a person (to stderr where ``err``), its control characters made visible."""
    print(printable(text, newlines=newlines), file=sys.stderr if err else sys.stdout)
