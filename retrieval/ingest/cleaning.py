"""Strip scraped-page boilerplate (bylines, story codes, related-story lists) and find the title."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from retrieval.text import ends_like_a_sentence, first_sentence

# A line that starts a trailing block of site furniture: everything from it to the end goes.
_FOOTER_MARKERS = {
    "featured stories",
    "related stories",
    "related articles",
    "related news",
    "related posts",
    "related",
    "more stories",
    "more news",
    "most popular",
    "most read",
    "popular stories",
    "top stories",
    "latest news",
    "tagged",
    "tags",
    "you may also like",
    "you might also like",
    "recommended",
    "recommended for you",
    "read more",
    "read next",
    "share this article",
    "share this",
    "comments",
    "comment",
    "leave a comment",
    "sign up for our newsletter",
}
# Lines that are furniture wherever they stand.
_NOISE_LINES = [
    re.compile(r"^story code\s*:?\s*\d+$", re.IGNORECASE),
    re.compile(r"^\d{1,4}$"),
    re.compile(r"^(advertisement|advert|sponsored|share|print|email|tweet|close)$", re.IGNORECASE),
    re.compile(r"^(photo|image|video)\s*(credit)?\s*:.{0,80}$", re.IGNORECASE),
]
_WEEKDAY = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+"
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATELINE = re.compile(
    rf"^(?:{_WEEKDAY})?(?:\d{{1,2}}\s+{_MONTH}|{_MONTH}\s+\d{{1,2}},?)\s+\d{{4}}"
    r"(?:\s*[-–—,|]?\s*\d{1,2}:\d{2}(?:\s*[ap]\.?m\.?)?(?:\s*[A-Z]{2,4})?)?$",
    re.IGNORECASE,
)
_LONE_CATEGORY_WORD = re.compile(r"(?:(?<=[a-z]{3}[.!?])|(?<=[a-z][.!?][”\"’]))( +[a-z]+\.)(?=[ \t]*$|\s+[“\"A-Z])")
"""A lower-case word standing alone as a "sentence" after a sentence's end ("…part in a forum. diplomatic."):
the site's category label, scraped into the first paragraph. Abbreviations ("U.S. economy.", "jocks vs.
nerds.") do not end a sentence of three lower-case letters, so they never match."""
_TITLE_MAX_WORDS = 24
_FOOTER_MIN_POSITION = 0.3


@dataclass(frozen=True)
class CleanedText:
    """Article body with boilerplate removed, plus what the header told us."""

    text: str
    title: str | None
    dateline: dt.date | None


def _is_noise(line: str) -> bool:
    return any(pattern.match(line) for pattern in _NOISE_LINES)


def _parse_dateline(line: str) -> dt.date | None:
    if not _DATELINE.match(line):
        return None
    from dateutil import parser as date_parser

    try:
        return date_parser.parse(line, fuzzy=True).date()
    except (ValueError, OverflowError):
        return None


def _is_headline(line: str) -> bool:
    words = line.split()
    return 2 <= len(words) <= _TITLE_MAX_WORDS and not ends_like_a_sentence(line)


def _cut_footer(lines: list[str]) -> list[str]:
    total = sum(len(line) for line in lines) or 1
    seen = 0
    for index, line in enumerate(lines):
        marker = line.strip().rstrip(":").lower()
        if marker in _FOOTER_MARKERS and seen / total >= _FOOTER_MIN_POSITION:
            return lines[:index]
        seen += len(line)
    return lines


def clean_scraped_text(raw: str) -> CleanedText:
    """Remove site furniture from a scraped page; keep the body's sentences verbatim."""
    lines = [line.rstrip() for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = _cut_footer(lines)

    title: str | None = None
    dateline: dt.date | None = None
    seen_short: set[str] = set()
    body: list[str] = []
    in_header = True
    for line in lines:
        stripped = line.strip()
        if not stripped:
            body.append("")
            continue
        if _is_noise(stripped):
            continue
        if in_header:
            day = _parse_dateline(stripped)
            if day is not None:
                dateline = dateline or day
                continue
            if _is_headline(stripped):
                # A short unpunctuated line before the body: the headline (often repeated).
                title = title or stripped
                seen_short.add(stripped)
                continue
            in_header = False
        if stripped in seen_short:
            continue  # a repeated headline inside the body
        body.append(stripped)

    paragraphs = [p.strip() for p in "\n".join(body).split("\n\n") if p.strip()]
    if paragraphs:
        paragraphs[0] = _LONE_CATEGORY_WORD.sub("", paragraphs[0])
    return CleanedText(text="\n\n".join(paragraphs), title=title, dateline=dateline)


def derive_title(text: str, max_chars: int = 100) -> str:
    """A title for an article that has none: its first sentence, shortened on a word boundary."""
    first = first_sentence(text)
    first = first.split("\n", 1)[0]
    if len(first) <= max_chars:
        return first
    cut = first[:max_chars].rsplit(" ", 1)[0].rstrip(",;:—–- ")
    return cut + "…"
