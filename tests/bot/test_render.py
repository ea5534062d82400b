"""The terminal and JSON rendering of an answer's short answer."""

from __future__ import annotations

import datetime as dt
import io

from rich.console import Console

from bot.render import answer_to_dict, print_answer
from retrieval.types import Answer, AnswerSentence, Citation, Quote, ShortAnswer

SENTENCE = "Jens Stoltenberg, secretary general of NATO, told AFP on Friday."


def _answer(short: ShortAnswer | None) -> Answer:
    citation = Citation(1, "nato.txt", "NATO", dt.date(2022, 3, 12), "AFP", None, (Quote(SENTENCE, 10, 73, 0),))
    return Answer(
        question="Who is the secretary general of NATO?",
        text=SENTENCE + " [1]",
        sentences=(AnswerSentence(SENTENCE, 1, passage_id=0),),
        citations=(citation,),
        hits=(),
        abstained=False,
        confidence=0.9,
        short_answer=short,
    )


def test_json_gives_the_short_answer_with_its_article_offsets() -> None:
    data = answer_to_dict(_answer(ShortAnswer("Jens Stoltenberg", 1, 10, 26, 0, 0.91234)))
    assert data["short_answer"] == {
        "text": "Jens Stoltenberg",
        "citation": 1,
        "article_id": "nato.txt",
        "start": 10,
        "end": 26,
        "passage_id": 0,
        "probability": 0.9123,
    }
    assert answer_to_dict(_answer(None))["short_answer"] is None


def test_the_terminal_opens_with_the_short_answer_then_the_cited_sentence() -> None:
    out = io.StringIO()
    print_answer(
        Console(file=out, width=200, color_system=None), _answer(ShortAnswer("Jens Stoltenberg", 1, 10, 26, 0, 0.9))
    )
    assert out.getvalue().startswith(f"Jens Stoltenberg — {SENTENCE} [1 · 2022-03-12]")
