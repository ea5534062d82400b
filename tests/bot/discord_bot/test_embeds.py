"""Answer → embeds: Discord's limits always held, text cut only on boundaries, links not unfurled."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from bot.discord_bot.embeds import (
    ELLIPSIS,
    CitedPassage,
    answer_description,
    answer_embeds,
    cited_passages,
    fits,
    passage_embeds,
    shorten,
    shown_citations,
    sources_embeds,
    split_text,
)
from bot.discord_bot.limits import DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT, FIELD_VALUE_LIMIT
from retrieval.types import Answer, AnswerSentence, Article, Citation, Hit, Passage, Quote

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"]


def prose(n_words: int, sentence_every: int = 12) -> str:
    """Deterministic prose of ``n_words`` words with a full stop every ``sentence_every`` words."""
    out = []
    for i in range(n_words):
        word = WORDS[i % len(WORDS)] + str(i)
        out.append(word + ("." if (i + 1) % sentence_every == 0 else ""))
    return " ".join(out)


def assert_word_boundary(original: str, cut: str) -> None:
    """``cut`` is a prefix of ``original`` ending at a word end (plus an optional ellipsis)."""
    head = cut.removesuffix(ELLIPSIS).rstrip()
    assert original.startswith(head)
    rest = original[len(head) :]
    assert rest == "" or not rest[0].isalnum(), f"cut mid-word: …{head[-20:]!r} | {rest[:20]!r}"


def test_shorten_keeps_short_text_and_cuts_long_text_on_a_sentence():
    assert shorten("Short enough.", 100) == "Short enough."
    text = prose(400)
    cut = shorten(text, 500)
    assert len(cut) <= 500 and cut.endswith(ELLIPSIS)
    assert cut.removesuffix(ELLIPSIS).endswith(".")  # a whole sentence
    assert_word_boundary(text, cut)


def test_shorten_falls_back_to_a_word_boundary_and_hard_cuts_only_a_giant_word():
    text = " ".join(f"word{i}" for i in range(500))  # no sentence end at all
    cut = shorten(text, 300)
    assert len(cut) <= 300
    assert_word_boundary(text, cut)
    assert len(shorten("x" * 5000, 300)) == 300


@pytest.mark.parametrize("limit", [50, 1024, 2000, 4096])
def test_split_text_pieces_fit_and_lose_no_word(limit):
    text = prose(3000) + "\n\n" + prose(500, sentence_every=1000)
    pieces = split_text(text, limit)
    assert all(0 < len(p) <= limit for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_split_text_prefers_line_breaks():
    text = "\n".join(f"line {i} " + "word " * 20 for i in range(40))
    for piece in split_text(text, 1000):
        assert piece.endswith("word")  # every piece ends where a line ended


def _article(i: int, title: str = "") -> Article:
    return Article(
        id=f"a{i}",
        title=title or f"Title {i}",
        date=dt.date(2022, 3, i % 28 + 1),
        source="Example Wire",
        text="",
        url=f"https://example.com/{i}",
    )


def _hit(i: int, text: str, title: str = "") -> Hit:
    return Hit(
        passage=Passage(id=i, article_id=f"a{i}", start=0, end=len(text), text=text),
        article=_article(i, title),
        score=1.0 / (i + 1),
        rank=i + 1,
    )


def long_answer(n_citations: int, sentence_words: int, title: str = "") -> Answer:
    sentences = tuple(AnswerSentence(prose(sentence_words, 10_000), i + 1) for i in range(n_citations))
    hits = tuple(_hit(i, prose(sentence_words * 2), title) for i in range(n_citations))
    citations = tuple(
        Citation(
            number=i + 1,
            article_id=f"a{i}",
            title=title or f"Title {i}",
            date=dt.date(2022, 3, 1),
            source="Example Wire",
            url=f"https://example.com/{i}",
            quotes=(Quote(s.text, 0, len(s.text), i),),
        )
        for i, s in enumerate(sentences)
    )
    return Answer(
        question="What happened? " * 30,
        text=" ".join(f"{s.text} [{s.citation}]" for s in sentences),
        sentences=sentences,
        citations=citations,
        hits=hits,
        abstained=False,
        confidence=0.9,
        timings={"total_ms": 12.0},
    )


@pytest.mark.parametrize("answer_chars", [200, 1500, 4096])
@pytest.mark.parametrize("n_citations,sentence_words", [(1, 2000), (4, 300), (30, 200)])
def test_answer_embeds_always_fit(answer_chars, n_citations, sentence_words):
    answer = long_answer(n_citations, sentence_words, title="A very long headline " * 30)
    messages = answer_embeds(answer, answer_chars=answer_chars)
    assert messages and all(fits(m) for m in messages)
    assert all(sum(len(e) for e in m) <= EMBED_TOTAL_LIMIT for m in messages)
    first = messages[0][0]
    assert len(first.description) <= min(answer_chars, DESCRIPTION_LIMIT)
    assert re.search(r"\[1 · 2022-03-01\]$", first.description) or first.description.endswith(ELLIPSIS)
    fields = [f for m in messages for e in m for f in e.fields]
    cited = sorted(set(map(int, re.findall(r"\[(\d+) · [\d-]+\]", first.description))))
    assert [int(re.search(r"\[(\d+)\]", f.name).group(1)) for f in fields] == cited  # what the text cites
    assert all(len(f.value) <= FIELD_VALUE_LIMIT for f in fields)
    assert fields[0].name.startswith("Sources — [1]")


def test_many_sources_continue_in_further_messages_and_all_are_listed():
    answer = long_answer(30, 3, title="A very long headline " * 30)  # 30 short sentences: all fit the text
    messages = answer_embeds(answer, answer_chars=4096)
    assert len(messages) > 1 and all(fits(m) for m in messages)
    fields = [f for m in messages for e in m for f in e.fields]
    assert len(fields) == 30
    assert messages[-1][-1].footer.text.startswith("30 sources")


def test_answer_description_keeps_whole_sentences():
    answer = long_answer(3, 100)
    one_sentence = len(answer.sentences[0].text) + len(" [1 · 2022-03-01]")
    text = answer_description(answer, one_sentence + 10)
    assert text == f"{answer.sentences[0].text} [1 · 2022-03-01] {ELLIPSIS}"


def test_sources_list_has_title_date_source_unfurl_proof_link_and_quote():
    answer = long_answer(2, 8)
    field = answer_embeds(answer, answer_chars=1500)[0][0].fields[1]
    assert field.name == "[2] Title 1"
    assert "2022-03-01 · Example Wire · <https://example.com/1>" in field.value
    assert f"“{answer.citations[1].quotes[0].text}”" in field.value


def test_markdown_in_articles_is_neutralised():
    answer = long_answer(1, 5, title="**Bold** [click](https://evil.example) `code`")
    name = answer_embeds(answer, answer_chars=1500)[0][0].fields[0].name
    assert r"\*\*Bold\*\*" in name and r"\`code\`" in name


def test_abstention_says_so_and_lists_possibly_related_passages():
    hits = tuple(_hit(i, prose(50)) for i in range(3))
    answer = Answer(
        question="Who painted it?",
        text="The indexed articles don't say.",
        sentences=(),
        citations=(),
        hits=hits,
        abstained=True,
        confidence=0.1,
    )
    [[embed]] = answer_embeds(answer, answer_chars=1500)
    assert embed.title == "No answer in the articles"
    assert embed.description == "The indexed articles don't say."
    assert embed.fields[0].name.startswith("Possibly related — • Title 0")
    assert len(embed.fields) == 3


def test_long_passages_are_split_over_embeds_and_messages():
    passages = [
        CitedPassage(number=i, title=f"T{i}", date="2022-01-01", source="S", url=None, text=prose(1500), quote="")
        for i in range(1, 4)
    ]
    messages = passage_embeds(passages)
    assert len(messages) > 1 and all(fits(m) for m in messages)
    text = " ".join(e.description for m in messages for e in m)
    assert text.split() == (" ".join(p.text for p in passages)).split()


def test_sources_embeds_pack_many_hits_into_messages_that_fit():
    hits = [_hit(i, prose(400)) for i in range(50)]
    messages = sources_embeds("a query", hits)
    assert all(fits(m) for m in messages)
    assert sum(len(e.fields) for m in messages for e in m) == 50


def _two_quote_answer(third: AnswerSentence | None = None) -> Answer:
    """Article a0 quoted twice ([1], first and last sentence), article a1 once ([2]) in between."""
    first, second, last = (f"{word} {prose(n, 1000)}." for word, n in (("First", 20), ("Second", 25), ("Last", 30)))
    sentences = (
        AnswerSentence(first, 1, passage_id=0),
        AnswerSentence(second, 2, passage_id=1),
        third or AnswerSentence(last, 1, passage_id=0),
    )
    quotes = {1: (Quote(first, 0, 10, 0), Quote(last, 20, 30, 0)), 2: (Quote(second, 0, 10, 1),)}
    citations = tuple(
        Citation(n, f"a{n - 1}", f"Title {n - 1}", dt.date(2022, 3, 1), "Example Wire", None, quotes[n]) for n in (1, 2)
    )
    return Answer(
        question="What happened?",
        text=" ".join(f"{s.text} [{s.citation}]" for s in sentences),
        sentences=sentences,
        citations=citations,
        hits=tuple(_hit(i, prose(80)) for i in range(2)),
        abstained=False,
        confidence=0.9,
    )


def test_sources_list_only_what_the_visible_text_cites_with_the_quotes_it_uses():
    answer = _two_quote_answer()
    marker = len(" [1 · 2022-03-01]")
    room = len(answer.sentences[0].text) + len(answer.sentences[1].text) + 2 * marker + 4  # the first two sentences
    assert answer_description(answer, room).endswith(f"[2 · 2022-03-01] {ELLIPSIS}")
    shown = shown_citations(answer, room)
    assert [c.number for c in shown] == [1, 2]
    assert shown[0].quotes == answer.citations[0].quotes[:1]  # the last sentence, cut, is not quoted
    [[embed]] = answer_embeds(answer, answer_chars=room)
    assert "“First alpha0" in embed.fields[0].value and "Last" not in embed.fields[0].value
    assert embed.footer.text.startswith("2 sources")
    one = len(answer.sentences[0].text) + 8
    [[embed]] = answer_embeds(answer, answer_chars=one)
    assert [f.name for f in embed.fields] == ["Sources — [1] Title 0"]
    assert embed.footer.text.startswith("1 source ·")
    assert [p.number for p in cited_passages(answer, shown_citations(answer, one))] == [1]
    assert shown_citations(answer, 4096) == answer.citations  # everything fits: everything listed


def test_a_written_sentence_shows_the_quotes_of_its_passage():
    written = AnswerSentence("A sentence the answerer wrote.", 1, verified=True, passage_id=0)
    answer = _two_quote_answer(third=written)
    [first, _] = shown_citations(answer, 4096)
    assert first.quotes == answer.citations[0].quotes  # its own quote and the passage's other one


def test_the_short_answer_opens_the_embed_in_bold():
    from dataclasses import replace

    from retrieval.types import ShortAnswer

    answer = long_answer(1, 8)
    span = answer.sentences[0].text.split()[0]
    answer = replace(answer, short_answer=ShortAnswer(span, 1, 0, len(span), 0, 0.9))
    assert answer_description(answer, 4096).startswith(f"**{span}** — {answer.sentences[0].text} [1 · 2022-03-01]")
