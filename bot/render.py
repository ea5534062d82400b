"""Answers, hits and stats as terminal text or JSON-ready dicts.

Whatever comes from outside (questions, answers, titles, sources, paths) is printed as plain text:
never read as rich markup, and with escape sequences and other control characters removed
(:func:`printable`), so a title or a question cannot restyle or take over the terminal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from retrieval.engine import IndexStats
from retrieval.evaluation import EvalReport
from retrieval.ingest.textclean import scrub
from retrieval.types import Answer, AnswerSentence, Citation, Hit

if TYPE_CHECKING:
    from retrieval.feeds.types import Feed, FeedReport, UpdateReport
    from retrieval.index.indexer import BuildSummary

EXCERPT_CHARS = 300


def printable(text: object) -> str:
    """``text`` on one line, safe for a terminal: no escape sequences, control characters or lone surrogates."""
    return scrub(str(text), keep="")


def plain(text: object, style: str = "") -> Text:
    """``text`` as a rich Text (never parsed as markup), made :func:`printable`."""
    return Text(printable(text), style=style)


def _date(value: dt.date | None) -> str:
    return value.isoformat() if value else "undated"


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` shortened on a word boundary."""
    text = " ".join(printable(text).split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def hit_to_dict(hit: Hit) -> dict[str, Any]:
    """A hit as plain data."""
    return {
        "rank": hit.rank,
        "score": round(hit.score, 6),
        "fused_score": None if hit.fused_score is None else round(hit.fused_score, 6),
        "dense_score": None if hit.dense_score is None else round(hit.dense_score, 6),
        "lexical_score": None if hit.lexical_score is None else round(hit.lexical_score, 6),
        "article_id": hit.article.id,
        "title": hit.article.title,
        "date": hit.article.date.isoformat() if hit.article.date else None,
        "source": hit.article.source,
        "url": hit.article.url,
        "passage_id": hit.passage.id,
        "start": hit.passage.start,
        "end": hit.passage.end,
        "text": hit.passage.text,
    }


def citation_to_dict(citation: Citation) -> dict[str, Any]:
    """A citation (one source article and its quotes) as plain data."""
    data = asdict(citation)
    data["date"] = citation.date.isoformat() if citation.date else None
    return data


def sentence_marker(answer: Answer, number: int) -> str:
    """``[n · date]``: the source number and the date of its article (``[n]`` if undated)."""
    day = next((c.date for c in answer.citations if c.number == number), None)
    return f"[{number} · {day.isoformat()}]" if day else f"[{number}]"


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """An answer as plain data for ``--json`` and ``--jsonl``."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "abstained": answer.abstained,
        "confidence": round(answer.confidence, 4),
        "searched": answer.searched or answer.question,
        "as_of": answer.as_of.isoformat() if answer.as_of else None,
        "answerer": answer.answerer,
        "note": answer.note or None,
        "short_answer": short_answer_to_dict(answer),
        "sentences": [
            {
                "text": s.text,
                "citation": s.citation,
                "verified": s.verified,
                "support": None if s.support is None else round(s.support, 4),
                "passage_id": s.passage_id,
            }
            for s in answer.sentences
        ],
        "citations": [citation_to_dict(c) for c in answer.citations],
        "passages": [hit_to_dict(h) for h in answer.hits],
        "timings_ms": {k.removesuffix("_ms"): round(v, 2) for k, v in answer.timings.items()},
    }


def short_answer_to_dict(answer: Answer) -> dict[str, Any] | None:
    """The short answer as plain data: its text, citation, and article offsets (``end`` exclusive)."""
    short = answer.short_answer
    if short is None or answer.abstained:
        return None
    article = next((c.article_id for c in answer.citations if c.number == short.citation), None)
    return {
        "text": short.text,
        "citation": short.citation,
        "article_id": article,
        "start": short.start,
        "end": short.end,
        "passage_id": short.passage_id,
        "probability": round(short.probability, 4),
    }


class SentencePrinter:
    """Prints a written answer's sentences as they are verified (``Engine.ask``'s ``on_sentence``)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.printed = 0

    def __call__(self, sentence: AnswerSentence, citation: Citation | None) -> None:
        """Print one sentence and its marker, on the line of the ones before."""
        self.console.print(_sentence_text(sentence, citation.date if citation else None, self.printed), end="")
        self.console.file.flush()
        self.printed += 1


def _sentence_text(sentence: AnswerSentence, day: dt.date | None, position: int) -> Text:
    """A sentence and its ``[n · date]`` marker; an unverified one dimmed and marked so."""
    text = Text(" " if position else "")
    if not sentence.verified:
        text.append(printable(sentence.text), style="dim italic")
        text.append(" [unverified]", style="bold red")
        return text
    text.append(printable(sentence.text))
    marker = f"[{sentence.citation} · {day.isoformat()}]" if day else f"[{sentence.citation}]"
    text.append(f" {marker}", style="bold cyan")
    return text


def answer_preview(answer: Answer) -> Text:
    """The extractive answer's sentences and a dim line saying a written one is on its way."""
    days = {c.number: c.date for c in answer.citations}
    text = Text()
    for position, sentence in enumerate(answer.sentences):
        text.append_text(_sentence_text(sentence, days.get(sentence.citation), position))
    text.append("\n(quoting the articles while the language model writes…)", style="dim italic")
    return text


def print_answer(console: Console, answer: Answer, *, streamed: int = 0) -> None:
    """The answer, then its numbered sources (or the possibly related passages).

    ``streamed``: how many of its sentences were printed already, as they came (a written answer).
    """
    if streamed:
        console.print()  # (after a fallback, the answer that stands follows the sentences shown)
    if answer.note:
        console.print(plain(f"({answer.note})", style="dim italic"))
    if answer.searched:
        console.print(plain(f"(searched: {answer.searched})", style="dim"))
    if answer.window is not None and answer.window.since and answer.window.until:
        window = f"{answer.window.since.isoformat()} … {answer.window.until.isoformat()}"
        console.print(Text(f"(the question's dates: {window})", style="dim"))
    if answer.abstained:
        console.print(plain(answer.text, style="yellow"))
        if answer.hits:
            console.print()
            console.print(Text("Possibly related", style="bold"))
            for hit in answer.hits:
                _print_source(
                    console,
                    "-",
                    hit.article.title,
                    hit.article.date,
                    hit.article.source,
                    hit.article.url,
                    hit.passage.text,
                )
        return
    if not (streamed and answer.answerer == "llm"):
        body = Text()
        if answer.short_answer is not None:
            body.append(printable(answer.short_answer.text), style="bold")
            body.append(" — ")
        dates = {c.number: c.date for c in answer.citations}
        for number, sentence in enumerate(answer.sentences):
            body.append(_sentence_text(sentence, dates.get(sentence.citation), number))
        console.print(body)
    console.print()
    console.print(Text("Sources", style="bold"))
    for citation in answer.citations:
        _print_source(
            console,
            f"[{citation.number}]",
            citation.title,
            citation.date,
            citation.source,
            citation.url,
            *(q.text for q in citation.quotes),
        )
        if citation.also:
            console.print(Text(f"     also reported by {', '.join(citation.also)}", style="dim"))


def _print_source(
    console: Console, marker: str, title: str, date: dt.date | None, source: str, url: str | None, *quotes: str
) -> None:
    line = Text(f" {marker} ", style="bold cyan")
    line.append(printable(title), style="bold")
    line.append(f" — {_date(date)} — {printable(url or source)}", style="dim")
    console.print(line)
    for quote in quotes:
        console.print(Text(f"     “{excerpt(quote)}”"))


def print_hits(console: Console, hits: Sequence[Hit]) -> None:
    """Passages with their scores, best first."""
    if not hits:
        console.print("No passage matches.")
        return
    for hit in hits:
        dense = "-" if hit.dense_score is None else f"{hit.dense_score:.3f}"
        lexical = "-" if hit.lexical_score is None else f"{hit.lexical_score:.2f}"
        line = Text(f"{hit.rank}.", style="bold cyan")
        line.append(" ")
        line.append(printable(hit.article.title), style="bold")
        line.append(f" — {_date(hit.article.date)} — {printable(hit.article.url or hit.article.source)}", style="dim")
        console.print(line)
        fused = "-" if hit.fused_score is None else f"{hit.fused_score:.3f}"
        console.print(Text(f"   score {hit.score:.4f} · fused {fused} · dense {dense} · bm25 {lexical}", style="dim"))
        console.print(Text(f"   {excerpt(hit.passage.text, 500)}"))


def stats_to_dict(stats: IndexStats) -> dict[str, Any]:
    """Index stats as plain data."""
    data = asdict(stats)
    data["path"] = str(stats.path)
    return data


def print_stats(console: Console, stats: IndexStats) -> None:
    """What is indexed, one fact a line (served from Milvus: where, and which generation, instead of a
    directory and its size)."""
    published = stats.published
    where = [("index", str(stats.path))]
    if published is not None:
        where = [
            ("index", f"Milvus at {published.uri} ({published.pointer})"),
            ("published", f"generation {published.generation}, {published.published_at}"),
        ]
    rows = [
        *where,
        ("articles", f"{stats.articles:,}"),
        ("passages", f"{stats.passages:,}"),
        ("dates", f"{stats.first_date or '-'} … {stats.last_date or '-'}"),
        ("model", f"{stats.model} (dim {stats.dimension})"),
        (
            "vectors",
            f"{stats.vectors:,} sentences, {stats.vector_index} in {stats.vector_parts} "
            f"part{'s' * (stats.vector_parts != 1)}; {stats.segments} segment{'s' * (stats.segments != 1)}",
        ),
        *([("size", f"{stats.size_bytes / 1e6:.2f} MB")] if published is None else []),
        ("built", stats.built_at),
        ("format", str(stats.format_version)),
    ]
    for key, value in rows:
        line = Text(f"{key:>9}", style="bold")
        line.append(f"  {printable(value)}")
        console.print(line)


def print_eval(console: Console, report: EvalReport) -> None:
    """The benchmark report as a table."""
    from rich.table import Table

    table = Table(title=f"newsdesk eval: {report.n_answerable} answerable, {report.n_unanswerable} unanswerable")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("Hits@1", f"{report.hits_at[1]:.3f}"),
        ("Hits@5", f"{report.hits_at[5]:.3f}"),
        ("Hits@10", f"{report.hits_at[10]:.3f}"),
        ("MRR@10", f"{report.mrr_at_10:.3f}"),
        ("answer contains gold", f"{report.contains_gold:.3f}"),
        ("first sentence contains gold", f"{report.first_sentence_contains_gold:.3f}"),
        ("gold answer in the top-5 passages", f"{report.gold_in_top5:.3f}"),
        ("answer words: median / p90", f"{report.words_median:.0f} / {report.words_p90:.0f}"),
        ("answer token F1", f"{report.f1:.3f}"),
        ("short answer given (answerable)", f"{report.short_given:.3f}"),
        ("short answer contains gold (where given)", f"{report.short_contains_gold:.3f}"),
        ("abstained on unanswerable", f"{report.abstained_unanswerable:.3f}"),
        ("wrongly abstained on answerable", f"{report.abstained_answerable:.3f}"),
        ("confidence AUROC", f"{report.auroc:.3f}"),
        *(
            [
                (
                    f"refused, answerable, no time word, asked {report.asked_later_days} days later",
                    f"{report.refused_no_time_word:.3f}",
                )
            ]
            if report.asked_later_days
            else [("refused, answerable, no time word", f"{report.refused_no_time_word:.3f}")]
        ),
        ("citations verbatim", f"{report.citations_verbatim:.1%}"),
        ("answers citing a passage without the sentence", str(report.unsupported_answers)),
        ("most sentences in an answer", str(report.max_sentences)),
        ("ask latency p50 / p95", f"{report.latency_p50_ms:.1f} / {report.latency_p95_ms:.1f} ms"),
        ("index build", f"{report.build_seconds:.1f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


# -- feeds (the CLI's `feeds`, `update`, `watch` and the Discord bot's /feeds and its log) ----------------


def when(value: dt.datetime | None) -> str:
    """A moment as local ``YYYY-MM-DD HH:MM``, or ``never``."""
    if value is None:
        return "never"
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


def plural(count: int, noun: str) -> str:
    """``1 article``, ``2 articles``."""
    return f"{count} {noun}{'s' if count != 1 else ''}"


def feed_to_dict(feed: Feed) -> dict[str, object]:
    """A feed as JSON."""
    return {
        "name": feed.name,
        "url": feed.url,
        "site": feed.site,
        "last_polled": feed.last_polled.isoformat() if feed.last_polled else None,
        "last_status": feed.last_status,
        "failures": feed.failures,
        "articles": feed.articles,
        "next_poll": feed.next_poll.isoformat() if feed.next_poll else None,
    }


def feed_status(feed: Feed) -> str:
    """How a feed's last poll went: ``ok``, ``unchanged``, or why it failed and how often in a row."""
    status = feed.last_status or "not polled yet"
    if feed.failures:
        status = f"{status} ({plural(feed.failures, 'failure')} in a row)"
    return status


def feed_line(report: FeedReport) -> str:
    """One line on what a poll of one feed did."""
    if report.status == "failed":
        return f"✗ {report.feed}: failed — {report.reason} (next try {when(report.next_poll)})"
    extra = f"; {report.reason}" if report.reason else ""
    if report.status == "new":
        pages = f", {plural(report.pages, 'page')} fetched" if report.pages else ""
        failed = f", {report.page_failures} page(s) failed (feed text kept)" if report.page_failures else ""
        return f"+ {report.feed}: {report.new} new{pages}{failed}{extra}"
    return f"· {report.feed}: unchanged{extra}"


def summary_line(report: UpdateReport) -> str:
    """One line on a whole update cycle."""
    unchanged = sum(1 for f in report.feeds if f.status == "unchanged")
    line = (
        f"Polled {plural(len(report.feeds), 'feed')} in {report.seconds:.1f}s: "
        f"{plural(report.new, 'new article')}, {unchanged} unchanged, {report.failed} failed; "
        f"{plural(report.requests, 'request')}."
    )
    if report.build is not None:
        b = report.build
        line += f" Indexed {b.added} new, {b.changed} changed ({b.articles} articles, {b.passages} passages)."
    elif report.index_error:
        line += f" Not indexed: {report.index_error}"
    return line


def seeds_line(build: BuildSummary) -> str:
    """One line on a build for seed files that changed."""
    return (
        f"Seed files changed: indexed {build.added} new, {build.changed} changed, {build.removed} removed "
        f"({build.articles} articles, {build.passages} passages)."
    )
