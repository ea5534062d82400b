"""Cleaning scraped pages: the boilerplate goes, the body stays verbatim, title and date are found."""

from __future__ import annotations

import datetime as dt

from retrieval.ingest.cleaning import clean_scraped_text, derive_title
from retrieval.ingest.formats.seed_text import read_seed_text
from tests.conftest import SEEDS


def _seed(name: str):
    path = next(SEEDS.glob(f"{name}_*.txt"))
    return read_seed_text(path.name, path.read_text(encoding="utf-8")), path.read_text(encoding="utf-8")


def test_second_seed_loses_site_furniture() -> None:
    article, raw = _seed("002")
    assert article is not None
    text = article.text
    for junk in (
        "Featured Stories",
        "Tagged",
        "Story Code",
        "Comment",
        "Daesh Appoints New Leader",
        "Saturday 12 March 2022 - 06:28",
    ):
        assert junk in raw
        assert junk not in text
    assert "Turkey won’t sanction Russia, despite NATO pressure" not in text  # headline is the title
    assert text.startswith("The official clarified that Ankara had no plans")
    assert text.endswith("and Russia’s leadership directly.")


def test_second_seed_title_date_and_verbatim_body() -> None:
    article, raw = _seed("002")
    assert article.title == "Turkey won’t sanction Russia, despite NATO pressure"
    assert article.date == dt.date(2022, 3, 12)
    for paragraph in article.text.split("\n\n"):
        assert paragraph in raw


def test_first_seed_title_date_and_body() -> None:
    article, raw = _seed("000")
    assert article.date == dt.date(2022, 3, 12)
    assert article.title.startswith("“NATO does not want an open war with Russia,” Jens Stoltenberg")
    assert len(article.title) <= 101
    assert "date 2022-03-12" not in article.text
    assert "“Right now, we have no plans to impose sanctions on Russia." in article.text
    assert "diplomatic." in raw and "diplomatic." not in article.text  # the site's category word
    assert article.text.split("\n\n")[0].endswith("where he is taking part in a forum.")
    for paragraph in article.text.split("\n\n"):
        assert paragraph in raw or paragraph + " diplomatic." in raw


def test_a_lone_category_word_in_the_first_paragraph_is_furniture() -> None:
    raw = (
        "The council met on Monday. politics. It voted to close the library.\n\n"
        "The mayor spoke later. sports. Nobody asked."
    )
    cleaned = clean_scraped_text(raw)
    assert cleaned.text.startswith("The council met on Monday. It voted to close the library.")
    assert "sports." in cleaned.text  # only the first paragraph carries the label
    for kept in ("Analysts expect a slower U.S. economy.", "Old rivalries: jocks vs. nerds.", "He said “no.” Then."):
        assert clean_scraped_text(kept).text == kept


def test_footer_marker_early_in_text_is_kept() -> None:
    raw = "Tags\n\nThe council met on Monday and voted to close the library. " * 1 + "\n\nIt reopens in May."
    cleaned = clean_scraped_text(raw)
    assert "voted to close the library" in cleaned.text


def test_derive_title_shortens_on_a_word() -> None:
    title = derive_title("A " + "very " * 40 + "long first sentence. Second one.")
    assert title.endswith("…") and " ver…" not in title and len(title) <= 101
