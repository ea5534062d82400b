"""Text hygiene: text that every tokenizer can encode and no terminal will interpret.

Two things in text come from outside and break what follows: lone surrogates (a command-line
argument with bytes that are not UTF-8 arrives as ``\\udcff``; JSON may spell ``\\ud800``), which no
UTF-8 tokenizer can encode, and control characters (escape sequences, bidirectional overrides), which
a terminal acts on instead of showing.
"""

from __future__ import annotations

import re
from functools import lru_cache

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
# ANSI/VT escape sequences, whole: CSI (ESC [ … final byte), OSC (ESC ] … BEL or ESC \), and the
# two-character ones (ESC followed by one byte). The 8-bit CSI (U+009B) too.
_ESCAPE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[@-Z\\-_]?"
)
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_CONTROLS = "".join(map(chr, [*range(0x00, 0x20), *range(0x7F, 0xA0)]))
"""Unicode category Cc: exactly U+0000-U+001F and U+007F-U+009F."""


def fix_surrogates(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, so it encodes as UTF-8."""
    return _SURROGATE.sub(REPLACEMENT, text)


@lru_cache(maxsize=8)
def _controls(keep: str) -> re.Pattern[str]:
    """The control characters and bidirectional controls, except those in ``keep``."""
    chars = "".join(c for c in _CONTROLS + _BIDI if c not in keep)
    return re.compile("[" + re.escape(chars) + "]")


def _replace(match: re.Match[str]) -> str:
    return "" if match.group() in _BIDI else " "


def scrub(text: str, *, keep: str = "\n\t") -> str:
    """Lone surrogates as U+FFFD, escape sequences and bidirectional overrides removed, other control
    characters as spaces, except those in ``keep`` (``""`` for one line: a question, a title, a path)."""
    text = fix_surrogates(str(text))
    if "\x1b" in text or "\x9b" in text or "\x9d" in text:
        text = _ESCAPE.sub("", text)
    return _controls(keep).sub(_replace, text)


def has_letters_or_digits(text: str) -> bool:
    """True if ``text`` holds at least one letter or digit (in any script)."""
    return any(c.isalnum() for c in text)
