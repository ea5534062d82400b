"""Written answers: a language model writes 1-3 cited sentences, each verified before it is shown.

The extractive answer is composed first (it costs milliseconds) and is the fallback: when the model
refuses, fails, is unreachable or too slow, or writes nothing that its passages support, the answer
is the extractive one with a one-line ``note`` saying why. Sentences are checked as they complete in
the stream (``retrieval.answer.verify``), and only verified ones reach ``on_sentence`` and the
answer (unless ``show_unverified``, which keeps the others marked ``verified=False``).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from retrieval.answer.llm.base import ChatModel, Message
from retrieval.answer.prompt import (
    REFUSAL,
    NumberedPassage,
    best_sentences,
    build_messages,
    number_passages,
    sentence_messages,
)
from retrieval.answer.verify import SentenceVerifier, SupportScorer, Verdict, Verifier, split_citations
from retrieval.config import LLMConfig
from retrieval.errors import LLMError, LLMTimeoutError, NewsdeskError
from retrieval.text import overlap, shingles, split_sentences, tokenize
from retrieval.types import Answer, AnswerSentence, Citation, Quote

log = logging.getLogger(__name__)

SentenceCallback = Callable[[AnswerSentence, Citation | None], None]
"""Called with each sentence as soon as it is verified (and its citation as it stands then)."""
MAX_SENTENCES = 3
MAX_VERDICTS = 8
"""The stream is closed after this many sentences, kept or not (a model rambling on)."""
REPEAT_OVERLAP = 0.6
"""A verified sentence sharing this much of its word 5-grams with one already shown, or no content
word that one lacks, is a repeat."""
_LETTER = re.compile(r"[^\W\d_]")
_ENDS = re.compile(r"([.!?…][\"”’')]*|\])\s*$")
_LEADING_MARKERS = re.compile(r"^(\s*\[[^\]]*\d[^\]]*\])+")


@dataclass
class Written:
    """What happened while the model wrote: its reply, each verdict, and how it ended."""

    reply: str = ""
    verdicts: list[Verdict] = field(default_factory=list)
    refused: bool = False
    error: str = ""
    """'' when the stream ended normally, else the one-line reason (timeout, unreachable, …)."""
    timed_out: bool = False
    first_piece_ms: float | None = None
    ms: float = 0.0


def complete_sentences(buffer: str) -> tuple[list[str], str]:
    """The sentences of a growing reply that are complete, and the rest still being written.

    A sentence is complete once the next one has begun; markers after its full stop (``… euros. [1]``)
    stay with it.
    """
    spans = split_sentences(buffer)
    pieces = [buffer[s:e] for s, e in spans]
    merged: list[str] = []
    for piece in pieces:
        markers = _LEADING_MARKERS.match(piece)
        if markers and merged:
            merged[-1] += markers.group(0)
            piece = piece[markers.end() :].strip()
        if piece:
            merged.append(piece)
    if len(merged) <= 1 or merged[-1].startswith("["):
        return [], buffer  # (a "[" may be the start of the last sentence's marker)
    last = merged[-1]
    rest_start = buffer.rfind(last)
    return merged[:-1], buffer[rest_start:] if rest_start >= 0 else last


def stream_with_deadline(
    model: ChatModel, messages: Sequence[Message], config: LLMConfig, deadline: float
) -> Iterator[str]:
    """The model's reply pieces, from a worker thread; LLMTimeoutError once ``deadline`` passes.

    The caller never waits past the deadline: a stalled or slow model is abandoned (told to stop, its
    thread ends on its own).
    """
    pieces: queue.Queue[tuple[str, str | LLMError | None]] = queue.Queue()
    stop = threading.Event()

    def run() -> None:
        try:
            for piece in model.stream(
                messages, max_tokens=config.max_tokens, temperature=config.temperature, stop=stop
            ):
                pieces.put(("text", piece))
                if stop.is_set():
                    break
            pieces.put(("end", None))
        except LLMError as exc:
            pieces.put(("error", exc))
        except NewsdeskError as exc:  # e.g. a GGUF that cannot be loaded
            pieces.put(("error", LLMError(str(exc))))
        except Exception as exc:  # a backend's unexpected failure must not hang the question
            log.exception("language model failed")
            pieces.put(("error", LLMError(f"the language model failed ({type(exc).__name__})")))

    threading.Thread(target=run, name="newsdesk-llm", daemon=True).start()
    try:
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise queue.Empty
                kind, value = pieces.get(timeout=remaining)
            except queue.Empty:
                raise LLMTimeoutError(f"the language model took longer than {config.timeout:g} s") from None
            if kind == "end":
                return
            if isinstance(value, LLMError):
                raise value
            if isinstance(value, str):
                yield value
    finally:
        stop.set()


class Repeats:
    """Remembers the sentences shown, to tell a repeat from a new one."""

    def __init__(self) -> None:
        self._shown: list[tuple[set[tuple[str, ...]], set[str]]] = []

    def seen(self, text: str) -> bool:
        """True if ``text`` repeats a sentence shown before; else it counts as shown from now on."""
        grams, terms = shingles(text), set(tokenize([text])[0])
        if any(overlap(grams, g) >= REPEAT_OVERLAP or terms <= t for g, t in self._shown):
            return True
        self._shown.append((grams, terms))
        return False


class Citations:
    """Numbers articles in the order the answer first cites them, with the evidence quoted from each."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}
        self._quotes: dict[str, list[Quote]] = {}
        self._passages: dict[str, NumberedPassage] = {}
        self._articles: dict[str, Citation] = {}

    def cite(self, passage: NumberedPassage, evidence: int) -> Citation:
        """The citation of ``passage``'s article, with ``evidence`` (a sentence index) among its quotes."""
        article = passage.hit.article
        number = self._numbers.setdefault(article.id, len(self._numbers) + 1)
        self._passages.setdefault(article.id, passage)
        start, end = passage.spans[evidence]
        quote = Quote(article.text[start:end], start, end, passage.hit.passage.id)
        quotes = self._quotes.setdefault(article.id, [])
        if quote not in quotes:
            quotes.append(quote)
        return self._citation(article.id, number)

    def add(self, citation: Citation) -> int:
        """Take over an existing citation (the extractive answer's), merging its quotes; its new number."""
        number = self._numbers.setdefault(citation.article_id, len(self._numbers) + 1)
        self._articles.setdefault(citation.article_id, citation)
        quotes = self._quotes.setdefault(citation.article_id, [])
        quotes.extend(q for q in citation.quotes if q not in quotes)
        return number

    def number_of(self, passage: NumberedPassage) -> int:
        """The number ``passage``'s article has, 0 if the answer does not cite it."""
        return self._numbers.get(passage.hit.article.id, 0)

    def _citation(self, article_id: str, number: int) -> Citation:
        if article_id not in self._passages:
            return replace(self._articles[article_id], number=number, quotes=tuple(self._quotes[article_id]))
        article = self._passages[article_id].hit.article
        return Citation(
            number=number,
            article_id=article.id,
            title=article.title,
            date=article.date,
            source=article.source,
            url=article.url,
            quotes=tuple(self._quotes[article_id]),
        )

    def all(self) -> tuple[Citation, ...]:
        """Every citation, by number."""
        return tuple(self._citation(a, n) for a, n in sorted(self._numbers.items(), key=lambda item: item[1]))


class WrittenAnswerer:
    """Asks the chat model, verifies its sentences as they stream, and falls back to the quotes."""

    def __init__(self, model: ChatModel, config: LLMConfig) -> None:
        self.model = model
        self.config = config

    def write(
        self,
        question: str,
        passages: Sequence[NumberedPassage],
        verifier: Verifier | SentenceVerifier,
        *,
        as_of: dt.date,
        on_verdict: Callable[[Verdict], None] | None = None,
        messages: Sequence[Message] | None = None,
    ) -> Written:
        """Stream the model's reply and verify each sentence as it completes (the raw record)."""
        written = Written()
        started = time.monotonic()
        deadline = started + self.config.timeout
        if messages is None:
            messages = build_messages(question, passages, as_of=as_of)
        kept = 0
        repeats = Repeats()

        def judge(sentence: str) -> bool:
            """Verify one sentence; False once enough are kept or the model refused."""
            nonlocal kept
            if REFUSAL in sentence:
                written.refused = kept == 0
                return False
            if not _LETTER.search(split_citations(sentence)[0]):
                return True  # a list number ("1."), a stray marker: not a sentence
            verdict = verifier.verify(question, sentence, passages)
            if verdict.verified and repeats.seen(verdict.text):
                verdict = replace(verdict, passage=None, reason="repeats an earlier sentence", claim=False)
            written.verdicts.append(verdict)
            log.debug("verdict %s: %r (%s)", verdict.verified, verdict.text, verdict.reason)
            if on_verdict is not None:
                on_verdict(verdict)
            kept += verdict.verified
            return kept < MAX_SENTENCES and len(written.verdicts) < MAX_VERDICTS

        buffer = ""
        going = True
        try:
            for piece in stream_with_deadline(self.model, messages, self.config, deadline):
                if written.first_piece_ms is None:
                    written.first_piece_ms = (time.monotonic() - started) * 1000
                written.reply += piece
                buffer += piece
                if REFUSAL in buffer and kept == 0:
                    written.refused = True
                    going = False
                    break
                done, buffer = complete_sentences(buffer)
                for sentence in done:
                    going = judge(sentence)
                    if not going:
                        break
                if not going:
                    break
            if going and buffer.strip() and _ENDS.search(buffer):
                judge(buffer.strip())  # the last sentence: kept only if it was finished, not cut off
        except LLMError as exc:
            written.error = str(exc)
            written.timed_out = isinstance(exc, LLMTimeoutError)
        written.ms = (time.monotonic() - started) * 1000
        return written

    def answer(
        self,
        extractive: Answer,
        scorer: SupportScorer,
        *,
        as_of: dt.date | None = None,
        on_sentence: SentenceCallback | None = None,
        on_verdict: Callable[[Verdict], None] | None = None,
    ) -> Answer:
        """A written answer to ``extractive``'s question from its passages, or ``extractive`` with a note.

        ``on_verdict`` sees every written sentence's verdict, shown or not (for measuring).
        """
        if extractive.abstained:
            return replace(extractive, note="no written answer: nothing retrieved answers the question")
        day = extractive.as_of or as_of or dt.date.today()
        question = extractive.searched or extractive.question
        messages: list[Message] | None = None
        verifier: Verifier | SentenceVerifier
        if self.config.mode in ("quote", "write"):
            passages = best_sentences(question, extractive.hits, quoted_spans(extractive), self.config.sentences)
            if self.config.mode == "quote":
                return self.quote(extractive, passages, as_of=day, on_sentence=on_sentence)
            messages = sentence_messages(question, passages, as_of=day, quote=False)
            verifier = SentenceVerifier()
        else:
            passages = number_passages(extractive.hits[: self.config.passages], self.config.passage_chars)
            verifier = Verifier(scorer, self.config.support_threshold)
        citations = Citations()
        sentences: list[AnswerSentence] = []

        def judged(verdict: Verdict) -> None:
            if on_verdict is not None:
                on_verdict(verdict)
            if verdict.passage is not None:
                citation = citations.cite(verdict.passage, verdict.evidence)
                sentence = AnswerSentence(
                    verdict.text, citation.number, True, verdict.support, verdict.passage.hit.passage.id
                )
            elif self.config.show_unverified:
                given = [p for p in passages if p.number in verdict.cited]
                number = citations.number_of(given[0]) if given else 0
                citation = None
                sentence = AnswerSentence(verdict.text, number, False, verdict.support, None)
            else:
                return
            sentences.append(sentence)
            if on_sentence is not None:
                on_sentence(sentence, citation)

        written = self.write(question, passages, verifier, as_of=day, on_verdict=judged, messages=messages)
        timings = dict(extractive.timings, write_ms=written.ms)
        if written.first_piece_ms is not None:
            timings["first_token_ms"] = written.first_piece_ms
        verified = [s for s in sentences if s.verified]
        if not verified:
            return replace(extractive, timings=timings, note=fallback_note(written, extractive))
        dropped = sum(not v.verified and v.claim for v in written.verdicts)
        return written_answer(extractive, sentences, citations.all(), timings, written_note(written, dropped))

    def quote(
        self,
        extractive: Answer,
        sentences: Sequence[NumberedPassage],
        *,
        as_of: dt.date,
        on_sentence: SentenceCallback | None = None,
    ) -> Answer:
        """The model picks the sentence that answers and copies the short answer: only quotes are shown.

        The picked sentence leads (verbatim, cited) and the extractive answer's other sentences follow.
        The model's short answer is not shown: on the dev slice it was a verbatim span of the sentence
        yet often not the answer (a name from a sentence about something else), and a bold answer
        claims more than a quote (docs/written-answers.md). It is kept in ``note`` for debugging only
        when the reader asks for unverified text (``show_unverified``).
        """
        started = time.monotonic()
        question = extractive.searched or extractive.question
        messages = sentence_messages(question, sentences, as_of=as_of, quote=True)
        reply, error, first = "", "", None
        try:
            for piece in stream_with_deadline(self.model, messages, self.config, started + self.config.timeout):
                first = first if first is not None else (time.monotonic() - started) * 1000
                reply += piece
                if "\n" in reply.strip():
                    break  # one line is all that is asked for
        except LLMError as exc:
            error = str(exc)
        timings = dict(extractive.timings, write_ms=(time.monotonic() - started) * 1000)
        if first is not None:
            timings["first_token_ms"] = first
        picked = parse_pick(reply, sentences)
        if picked is None:
            written = Written(reply=reply, refused=REFUSAL in reply, error=error)
            why = fallback_note(written, extractive) if (written.refused or error) else ""
            return replace(
                extractive,
                timings=timings,
                note=why or "the language model picked no sentence; quoting the articles instead",
            )
        evidence, short = picked
        citations = Citations()
        citation = citations.cite(evidence, 0)
        lead = AnswerSentence(evidence.text, citation.number, True, 1.0, evidence.hit.passage.id)
        if on_sentence is not None:
            on_sentence(lead, citation)
        kept = [lead]
        for sentence in extractive.sentences:
            source = next((c for c in extractive.citations if c.number == sentence.citation), None)
            if source is None or " ".join(sentence.text.split()) == evidence.text:
                continue
            number = citations.add(source)
            kept.append(replace(sentence, citation=number))
        note = quote_note(error, short, self.config.show_unverified)
        return written_answer(extractive, kept, citations.all(), timings, note)


def written_answer(
    extractive: Answer,
    sentences: list[AnswerSentence],
    citations: tuple[Citation, ...],
    timings: dict[str, float],
    note: str,
) -> Answer:
    """The extractive answer with the language model's sentences in its place (its search, day and filters kept)."""
    text = " ".join(f"{s.text} [{s.citation}]" if s.citation else s.text for s in sentences)
    return replace(
        extractive,
        text=text,
        sentences=tuple(sentences),
        citations=citations,
        abstained=False,
        timings=timings,
        answerer="llm",
        note=note,
        short_answer=None,
    )


_PICK = re.compile(r"\[?\s*(\d+)\s*\]?\s*[|:\-–—]\s*(.*)")


def parse_pick(reply: str, sentences: Sequence[NumberedPassage]) -> tuple[NumberedPassage, str] | None:
    """The sentence the model picked and its short answer ('' unless a verbatim span of that sentence).

    None when the reply names no given sentence (a refusal, prose, a number out of range).
    """
    line = reply.strip().splitlines()[0] if reply.strip() else ""
    match = _PICK.match(line.strip())
    if match is None:
        bare = re.fullmatch(r"\[?\s*(\d+)\s*\]?\.?", line.strip())
        if bare is None:
            return None
        number, short = int(bare.group(1)), ""
    else:
        number, short = int(match.group(1)), match.group(2)
    chosen = next((s for s in sentences if s.number == number), None)
    if chosen is None:
        return None
    return chosen, verbatim_span(short, chosen.text)


def verbatim_span(short: str, sentence: str) -> str:
    """``short`` as ``sentence`` writes it, when it is a span of it (case and spacing aside); else ''."""
    wanted = " ".join(short.strip().strip("\"'“”.").split())
    if not wanted or len(wanted) > len(sentence):
        return ""
    at = sentence.lower().find(wanted.lower())
    return sentence[at : at + len(wanted)] if at >= 0 else ""


def quote_note(error: str, short: str, show_unverified: bool) -> str:
    """A quoted answer's note: the error that cut it short, and the model's unchecked short answer if asked."""
    parts = [f"{error}: the answer may be incomplete"] if error else []
    if short and show_unverified:
        parts.append(f"the model's short answer (unverified): {short}")
    return "; ".join(parts)


def quoted_spans(answer: Answer) -> list[tuple[int, int, int]]:
    """The extractive answer's sentences as ``(passage id, start, end)`` article offsets, in order."""
    out = []
    for sentence in answer.sentences:
        for citation in answer.citations:
            if citation.number != sentence.citation:
                continue
            for quote in citation.quotes:
                if " ".join(quote.text.split()) == " ".join(sentence.text.split()):
                    out.append((quote.passage_id, quote.start, quote.end))
    return out


def fallback_note(written: Written, extractive: Answer) -> str:
    """Why the answer is the extractive one after all (one line)."""
    if written.refused:
        why = "the language model said the passages do not answer it"
    elif written.error:
        why = written.error
    elif any(v.claim for v in written.verdicts):
        n = sum(v.claim for v in written.verdicts)
        why = f"no written sentence was supported by the passages ({n} checked)"
    elif written.verdicts:
        why = "the written answer held nothing to check (only titles copied or repeats)"
    else:
        why = "the language model wrote nothing"
    return f"{why}; quoting the articles instead"


def written_note(written: Written, dropped: int) -> str:
    """What the reader should know about a written answer that was shown ('' when nothing)."""
    parts = []
    if written.error:
        parts.append(f"{written.error}: the answer may be incomplete")
    if dropped:
        parts.append(f"{dropped} written sentence{'s' * (dropped != 1)} not supported by the passages left out")
    return "; ".join(parts)
