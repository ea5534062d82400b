"""Subscription lists in OPML 2.0: read one (nested outlines too), write one."""

from __future__ import annotations

import datetime as dt
import email.utils
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import FeedError
from retrieval.feeds.types import Feed


@dataclass(frozen=True)
class Subscription:
    """One feed of an OPML file: its URL and title."""

    url: str
    title: str


def read_opml(path: Path) -> list[Subscription]:
    """The feeds (``<outline xmlUrl=…>``) of an OPML file, in order; FeedError if it is not OPML."""
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError as exc:
        raise FeedError(f"no such file: {path}") from exc
    except (ET.ParseError, OSError) as exc:
        raise FeedError(f"{path} is not readable OPML ({exc})") from exc
    if root.tag.lower() != "opml":
        raise FeedError(f"{path} is not OPML (its root is <{root.tag}>)")
    found: list[Subscription] = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if url and all(s.url != url for s in found):
            title = outline.get("title") or outline.get("text") or ""
            found.append(Subscription(url, " ".join(title.split())))
    return found


def write_opml(feeds: Sequence[Feed], title: str = "newsdesk feeds") -> str:
    """An OPML 2.0 document listing ``feeds``."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = email.utils.format_datetime(dt.datetime.now(dt.UTC))
    body = ET.SubElement(root, "body")
    for feed in feeds:
        attrs = {"type": "rss", "text": feed.name, "title": feed.name, "xmlUrl": feed.url}
        if feed.site:
            attrs["htmlUrl"] = feed.site
        ET.SubElement(body, "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
