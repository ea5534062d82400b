"""The text module: sentence ends, first sentences, headline-like lines; and no other module keeps its own."""

from __future__ import annotations

import re

from retrieval.text import ends_like_a_sentence, first_sentence, sentence_ends, split_sentences
from tests.conftest import REPO


def test_sentence_ends_come_after_closing_quotes_and_before_white_space() -> None:
    text = 'He said "No." Then he left! (Quietly.) End'
    assert [text[:end] for end in sentence_ends(text)] == ['He said "No."', 'He said "No." Then he left!',
                                                           'He said "No." Then he left! (Quietly.)']  # fmt: skip
    assert sentence_ends(text, 20) == sentence_ends(text)[1:]


def test_first_sentence_and_headline_like_lines() -> None:
    assert first_sentence("  The bridge opened. It cost $3m.") == "The bridge opened."
    assert ends_like_a_sentence("The council met on Monday.") and ends_like_a_sentence("He said:")
    assert not ends_like_a_sentence("Council approves bridge budget")


def test_split_sentences_gives_trimmed_spans_one_per_line() -> None:
    text = "Floods hit the town. Residents left.\nLONDON, May 3\nMore rain is due."
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "Floods hit the town.",
        "Residents left.",
        "LONDON, May 3",
        "More rain is due.",
    ]


def test_no_other_module_keeps_its_own_word_or_sentence_patterns() -> None:
    patterns = [r're\.compile\(r"\\w\+', r"re\.compile\(r\"\[\.!\?…\]", r"\\b\\w\\w\+\\b", r"sentencex"]
    found = []
    for path in [*(REPO / "retrieval").rglob("*.py"), *(REPO / "bot").rglob("*.py")]:
        if path.name == "text.py" and path.parent.name == "retrieval":
            continue
        source = path.read_text(encoding="utf-8")
        found += [f"{path.relative_to(REPO)}: {p}" for p in patterns if re.search(p, source)]
    assert found == []
