"""Answers, passages and stats as Discord embeds that always fit Discord's size limits.

Pure functions: no client, no network. Text is trimmed or split on line, sentence or word
boundaries (never mid-word), and embeds are packed into messages under the 6000-character total.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import discord

from bot.discord_bot.limits import (
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    EMBEDS_PER_MESSAGE,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FIELDS_PER_EMBED,
    FOOTER_LIMIT,
    TITLE_LIMIT,
)
from bot.render import feed_status, plural, sentence_marker, when
from retrieval.engine import IndexStats
from retrieval.text import SENTENCE_END as _SENTENCE_END
from retrieval.types import Answer, AnswerSentence, Citation, Hit, Quote

if TYPE_CHECKING:
    from bot.discord_bot.freshness import FeedsStatus

QUOTE_CHARS = 200
"""How much of a cited sentence the Sources list quotes."""
SOURCE_PASSAGE_CHARS = 700
"""How much of a passage /sources shows per hit."""

APOLOGY = "Sorry, something went wrong while answering. It has been logged; please try again later."
"""What the asker is told when the engine fails (the error itself is logged)."""
ELLIPSIS = "…"
ANSWER_COLOUR = discord.Colour(0x2B8A3E)
ABSTAIN_COLOUR = discord.Colour(0xE8A317)
INFO_COLOUR = discord.Colour(0x1C7ED6)

_WHITESPACE = re.compile(r"\s")


@dataclass(frozen=True)
class CitedPassage:
    """A passage as the "Show passages" button displays it (stored with the answer)."""

    number: int
    title: str
    date: str | None
    source: str
    url: str | None
    text: str
    quote: str = ""


# -- text that fits ------------------------------------------------------------------------------


def _cut_point(text: str, limit: int) -> int:
    """Where to cut ``text`` so the head is at most ``limit`` characters: a line, sentence or word end."""
    window = text[: limit + 1]
    floor = limit // 3  # a boundary this far in keeps enough of the text to be worth it
    line = window.rfind("\n", 0, limit + 1)
    if line >= floor:
        return line
    sentence = max((m.end() for m in _SENTENCE_END.finditer(window) if m.end() <= limit), default=-1)
    if sentence >= floor:
        return sentence
    spaces = [m.start() for m in _WHITESPACE.finditer(window) if m.start() <= limit]
    if spaces and spaces[-1] > 0:
        return spaces[-1]
    return limit  # one giant "word" (a URL, say): nothing better exists


def shorten(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its head cut on a boundary plus "…"."""
    text = text.strip()
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return ELLIPSIS[:limit]
    head = text[: _cut_point(text, limit - len(ELLIPSIS))].rstrip(" ,;:-—\n")
    return head + ELLIPSIS


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, split on line, sentence or word ends."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _cut_point(rest, limit)
        head = rest[:cut].rstrip()
        if not head:  # nothing before the boundary: take a hard slice rather than loop forever
            head, cut = rest[:limit], limit
        pieces.append(head)
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def escape(text: str) -> str:
    """Article or user text with Discord markdown neutralised, whitespace collapsed."""
    return discord.utils.escape_markdown(" ".join(str(text).split()))


def link(url: str | None) -> str:
    """A URL wrapped in <> so Discord does not unfurl it (empty if there is none)."""
    return f"<{url}>" if url else ""


def _date(value: dt.date | str | None) -> str:
    if value is None:
        return "undated"
    return value.isoformat() if isinstance(value, dt.date) else value


def _source_line(date: dt.date | str | None, source: str, url: str | None) -> str:
    parts = [_date(date), escape(source)]
    if url:
        parts.append(link(url))
    return " · ".join(p for p in parts if p)


def _field(name: str, value: str) -> tuple[str, str]:
    return shorten(name, FIELD_NAME_LIMIT) or "\u200b", shorten(value, FIELD_VALUE_LIMIT) or "\u200b"


# -- packing -------------------------------------------------------------------------------------


def _base(title: str, colour: discord.Colour, description: str = "") -> discord.Embed:
    return discord.Embed(
        title=shorten(title, TITLE_LIMIT) or None,
        description=shorten(description, DESCRIPTION_LIMIT) or None,
        colour=colour,
    )


def build_embeds(
    title: str,
    description: str,
    fields: Sequence[tuple[str, str]],
    *,
    colour: discord.Colour,
    footer: str | None = None,
) -> list[discord.Embed]:
    """One embed (or more, if the fields overflow) each within Discord's per-embed limits."""
    first = _base(title, colour, description)
    embeds = [first]
    current = first
    budget = EMBED_TOTAL_LIMIT - (len(shorten(footer, FOOTER_LIMIT)) if footer else 0)
    for name, value in fields:
        name, value = _field(name, value)
        if len(current.fields) >= FIELDS_PER_EMBED or len(current) + len(name) + len(value) > budget:
            current = _base(f"{title} (continued)", colour)
            embeds.append(current)
        current.add_field(name=name, value=value, inline=False)
    if footer:
        embeds[-1].set_footer(text=shorten(footer, FOOTER_LIMIT))
    return embeds


def pack_messages(embeds: Iterable[discord.Embed]) -> list[list[discord.Embed]]:
    """Group embeds into messages: at most 10 a message and 6000 characters in total."""
    messages: list[list[discord.Embed]] = []
    size = 0
    for embed in embeds:
        if not messages or len(messages[-1]) >= EMBEDS_PER_MESSAGE or size + len(embed) > EMBED_TOTAL_LIMIT:
            messages.append([])
            size = 0
        messages[-1].append(embed)
        size += len(embed)
    return messages


def fits(embeds: Sequence[discord.Embed], content: str = "") -> bool:
    """True if one message with these embeds and content is within all of Discord's limits."""
    if len(content) > CONTENT_LIMIT or len(embeds) > EMBEDS_PER_MESSAGE:
        return False
    if sum(len(e) for e in embeds) > EMBED_TOTAL_LIMIT:
        return False
    for e in embeds:
        if len(e.title or "") > TITLE_LIMIT or len(e.description or "") > DESCRIPTION_LIMIT:
            return False
        if len(e.fields) > FIELDS_PER_EMBED or len(e.footer.text or "") > FOOTER_LIMIT:
            return False
        for f in e.fields:
            if len(f.name or "") > FIELD_NAME_LIMIT or len(f.value or "") > FIELD_VALUE_LIMIT:
                return False
    return True


# -- answers -------------------------------------------------------------------------------------


UNVERIFIED = "**[unverified]**"
"""How a written sentence that failed verification is marked, when such sentences are shown at all."""


def marker_of(answer: Answer, sentence: AnswerSentence) -> str:
    """A sentence's ``[n · date]`` marker, or UNVERIFIED."""
    return sentence_marker(answer, sentence.citation) if sentence.verified else UNVERIFIED


def _visible(answer: Answer, limit: int) -> tuple[str, tuple[AnswerSentence, ...]]:
    """The answer text cut to ``limit`` characters on whole sentences, and the sentences it shows."""
    limit = min(limit, DESCRIPTION_LIMIT)
    if answer.abstained or not answer.sentences:
        return shorten(escape(answer.text), limit), ()
    out = f"*Searched: {escape(answer.searched)}*\n" if answer.searched else ""
    if answer.short_answer is not None:  # the short answer first, then the sentence that states it
        out += f"**{escape(answer.short_answer.text)}** —"
    shown: list[AnswerSentence] = []
    for sentence in answer.sentences:
        piece = f"{escape(sentence.text)} {marker_of(answer, sentence)}"
        candidate = f"{out} {piece}" if out and not out.endswith("\n") else out + piece
        if len(candidate) > limit:
            if not shown:  # even the first sentence is too long: cut it on a word
                marker = f" {marker_of(answer, sentence)}"
                out = out + shorten(escape(sentence.text), limit - len(out) - len(marker)) + marker
                shown.append(sentence)
            else:
                out += f" {ELLIPSIS}" if len(out) + 2 <= limit else ""
            break
        out = candidate
        shown.append(sentence)
    return out, tuple(shown)


def answer_description(answer: Answer, limit: int) -> str:
    """The answer with its [n] markers, whole sentences only, at most ``limit`` characters."""
    return _visible(answer, limit)[0]


def _quotes_used(citation: Citation, sentences: Sequence[AnswerSentence]) -> tuple[Quote, ...]:
    """The quotes of ``citation`` that ``sentences`` (all citing it) show: the quote a sentence is, else
    (a written sentence) the quotes from its passage; all of them if nothing matches."""
    used: set[Quote] = set()
    for sentence in sentences:
        exact = [q for q in citation.quotes if q.text == sentence.text]
        used.update(exact or [q for q in citation.quotes if q.passage_id == sentence.passage_id])
    return tuple(q for q in citation.quotes if q in used) or citation.quotes


def shown_citations(answer: Answer, answer_chars: int) -> tuple[Citation, ...]:
    """The citations the answer's visible text (cut to ``answer_chars``) uses, each once, with only the
    quotes that text uses: a source whose sentences were cut for length is not listed."""
    _, shown = _visible(answer, answer_chars)
    out = []
    for citation in answer.citations:
        citing = [s for s in shown if s.citation == citation.number]
        if citing:
            out.append(replace(citation, quotes=_quotes_used(citation, citing)))
    return tuple(out)


def citation_field(citation: Citation) -> tuple[str, str]:
    """A Sources entry: "[n] title" over "date · source · <url>" and a short quote."""
    value = _source_line(citation.date, citation.source, citation.url)
    if citation.also:
        value += f"\nalso reported by {escape(', '.join(citation.also))}"
    share = max(60, QUOTE_CHARS // max(1, len(citation.quotes)))
    for quote in citation.quotes:
        text = shorten(escape(quote.text), share)
        if text:
            value += f"\n> “{text}”"
    return _field(f"[{citation.number}] {escape(citation.title)}", value)


def hit_field(hit: Hit, *, marker: str, passage_chars: int = QUOTE_CHARS) -> tuple[str, str]:
    """A retrieved passage as a field: "marker title" over its date, source, link and an excerpt."""
    article = hit.article
    value = _source_line(article.date, article.source, article.url)
    quote = shorten(escape(hit.passage.text), passage_chars)
    if quote:
        value += f"\n> {quote}"
    return _field(f"{marker} {escape(article.title)}", value)


def _headed(fields: list[tuple[str, str]], heading: str) -> list[tuple[str, str]]:
    """The fields with ``heading`` prefixed to the first one's name (the list's caption)."""
    if fields:
        fields[0] = _field(f"{heading} — {fields[0][0]}", fields[0][1])
    return fields


def answer_footer(answer: Answer, sources: int) -> str:
    """The footer of an answer: its note (a fallback, sentences left out), sources, time, what kind it is."""
    kind = "written, each sentence checked against its source" if answer.answerer == "llm" else "quotes are verbatim"
    note = f"{answer.note} · " if answer.note else ""
    return f"{note}{plural(sources, 'source')} · answered in {answer.timings.get('total_ms', 0):.0f} ms · {kind}"


def answer_embeds(answer: Answer, *, answer_chars: int) -> list[list[discord.Embed]]:
    """An answer as messages of embeds: the cited answer and its Sources, or an abstention."""
    if answer.abstained:
        embeds = build_embeds(
            "No answer in the articles",
            answer_description(answer, answer_chars),
            _headed([hit_field(h, marker="•") for h in answer.hits], "Possibly related"),
            colour=ABSTAIN_COLOUR,
            footer="These passages came closest but do not answer the question.",
        )
    else:
        citations = shown_citations(answer, answer_chars)
        embeds = build_embeds(
            escape(answer.question),
            answer_description(answer, answer_chars),
            _headed([citation_field(c) for c in citations], "Sources"),
            colour=ANSWER_COLOUR,
            footer=answer_footer(answer, len(citations)),
        )
    return pack_messages(embeds)


WRITING = "writing… each sentence is checked against its article before it appears"


def writing_embeds(
    question: str, written: Sequence[tuple[AnswerSentence, Citation | None]], *, answer_chars: int
) -> list[discord.Embed]:
    """A written answer while it is being written: the sentences verified so far with their markers."""
    pieces = []
    for sentence, citation in written:
        day = citation.date if citation is not None else None
        marker = f"[{sentence.citation} · {day.isoformat()}]" if day else f"[{sentence.citation}]"
        pieces.append(f"{escape(sentence.text)} {marker if sentence.verified else UNVERIFIED}")
    embed = _base(escape(question), ANSWER_COLOUR, shorten(" ".join(pieces), min(answer_chars, DESCRIPTION_LIMIT)))
    embed.set_footer(text=WRITING)
    return [embed]


def cited_passages(answer: Answer, citations: Sequence[Citation] | None = None) -> list[CitedPassage]:
    """The full passages behind ``citations`` (default: all the answer's), or the closest hits of an
    abstention."""
    texts = {h.passage.id: h.passage.text for h in answer.hits}
    if answer.abstained:
        return [
            CitedPassage(
                number=i,
                title=h.article.title,
                date=h.article.date.isoformat() if h.article.date else None,
                source=h.article.source,
                url=h.article.url,
                text=h.passage.text,
            )
            for i, h in enumerate(answer.hits, start=1)
        ]
    return [
        CitedPassage(
            number=c.number,
            title=c.title,
            date=c.date.isoformat() if c.date else None,
            source=c.source,
            url=c.url,
            text=texts.get(q.passage_id, q.text),
            quote=q.text,
        )
        for c in (answer.citations if citations is None else citations)
        for q in c.quotes
    ]


def passage_embeds(passages: Sequence[CitedPassage]) -> list[list[discord.Embed]]:
    """Full passages, one embed each (split if long), the quoted sentence in bold."""
    if not passages:
        return [[_base("No passages", INFO_COLOUR, "This answer cites no passage.")]]
    embeds: list[discord.Embed] = []
    for p in passages:
        text = escape(p.text)
        quote = escape(p.quote) if p.quote else ""
        if quote and quote in text:
            text = text.replace(quote, f"**{quote}**", 1)
        pieces = split_text(text, DESCRIPTION_LIMIT)
        for i, piece in enumerate(pieces):
            title = f"[{p.number}] {escape(p.title)}" + (" (continued)" if i else "")
            embed = _base(title, INFO_COLOUR, piece)
            if i == len(pieces) - 1:
                embed.set_footer(
                    text=shorten(f"{_date(p.date)} · {p.source}" + (f" · {p.url}" if p.url else ""), FOOTER_LIMIT)
                )
            embeds.append(embed)
    return pack_messages(embeds)


def sources_embeds(query: str, hits: Sequence[Hit]) -> list[list[discord.Embed]]:
    """The top passages for /sources, best first."""
    if not hits:
        return [[_base("No passage matches", ABSTAIN_COLOUR, f"Nothing indexed matches “{escape(query)}”.")]]
    fields = [
        hit_field(h, marker=f"{h.rank or i}.", passage_chars=SOURCE_PASSAGE_CHARS) for i, h in enumerate(hits, start=1)
    ]
    return pack_messages(build_embeds(f"Top passages for “{escape(query)}”", "", fields, colour=INFO_COLOUR))


def feeds_value(feeds: FeedsStatus) -> str:
    """The /stats line on the feeds: how many, the last poll, which are failing."""
    if not feeds.feeds:
        return "none followed (`/feeds add URL`)"
    line = f"{plural(len(feeds.feeds), 'feed')} · last poll {when(feeds.last_polled)}"
    failing = feeds.failing
    if failing:
        names = ", ".join(f"{escape(f.name)} ({escape(feed_status(f))})" for f in failing)
        line += f" · {len(failing)} failing: {names}"
    else:
        line += " · no failures"
    if not feeds.watching:
        line += " · not watching"
    return line


def grew_value(feeds: FeedsStatus) -> str:
    """The /stats line on when the index last grew."""
    if feeds.grew_at is None:
        return "not since the bot started"
    return f"{when(feeds.grew_at)} (+{plural(feeds.grew_by, 'article')})"


def _size_row(stats: IndexStats) -> tuple[str, str]:
    """The index's size on disk, or (served from Milvus, with no directory here) when it was published."""
    published = stats.published
    if published is None:
        return "Size", f"{stats.size_bytes / 1e6:.2f} MB"
    return "Published", escape(f"{published.published_at} (generation {published.generation})")


def stats_embed(stats: IndexStats, *, loaded_model: str, feeds: FeedsStatus | None = None) -> discord.Embed:
    """What is indexed, for /stats (and, given ``feeds``, the feeds and when the index last grew)."""
    embed = _base("What newsdesk has indexed", INFO_COLOUR)
    rows = [
        ("Articles", f"{stats.articles:,}"),
        ("Passages", f"{stats.passages:,}"),
        ("Dates", f"{stats.first_date or '—'} … {stats.last_date or '—'}"),
        ("Model", f"{escape(stats.model)} (dim {stats.dimension})"),
        _size_row(stats),
        ("Built", escape(stats.built_at)),
    ]
    if feeds is not None:
        rows += [("Last grew", grew_value(feeds)), ("Feeds", feeds_value(feeds))]
    for name, value in rows:
        embed.add_field(name=name, value=shorten(value, FIELD_VALUE_LIMIT), inline=name != "Feeds")
    if loaded_model != stats.model:
        embed.set_footer(text=shorten(f"the bot runs model {loaded_model}", FOOTER_LIMIT))
    return embed


def note(text: str) -> str:
    """A short plain-text message, trimmed to Discord's content limit."""
    return shorten(text, CONTENT_LIMIT)
