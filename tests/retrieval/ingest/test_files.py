"""Reading every supported format, de-duplicating, and skipping bad files with a warning."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
from pathlib import Path

import pytest

from retrieval.errors import SeedsNotFoundError
from retrieval.ingest.cache import IngestCache
from retrieval.ingest.files import load_articles
from tests.conftest import write_articles


def test_reads_each_format(seeds_dir: Path) -> None:
    result = load_articles(seeds_dir)
    by_id = {a.id: a for a in result.articles}
    assert set(by_id) == {"harbour.txt", "election.md", "wildlife.html", "wire-1", "wire-2"}

    harbour = by_id["harbour.txt"]
    assert harbour.title == "Port of Tallinn opens new ferry terminal"
    assert harbour.date == dt.date(2023, 5, 2)
    assert harbour.source == "harbour.txt"

    election = by_id["election.md"]
    assert (election.title, election.date) == ("Coastal town elects new mayor", dt.date(2023, 6, 15))
    assert (election.url, election.source) == ("https://example.org/mayor", "Example Gazette")

    wildlife = by_id["wildlife.html"]
    assert wildlife.title == "Wolves return to the valley"
    assert "Wolves have returned to the Oder valley" in wildlife.text
    assert "Home | News" not in wildlife.text and "Copyright" not in wildlife.text

    wire = by_id["wire-1"]
    assert (wire.title, wire.date, wire.source, wire.url) == (
        "Central bank holds rates",
        dt.date(2023, 7, 20),
        "Wire",
        "https://example.com/rates",
    )


def test_identical_articles_are_indexed_once(tmp_path: Path) -> None:
    body = " date 2023-01-01 The mayor opened the new bridge on Monday after two years of work."
    write_articles(tmp_path, {"a.txt": body, "copy/b.txt": body.replace("  ", " ")})
    result = load_articles(tmp_path)
    assert len(result.articles) == 1 and result.duplicates == 1


def test_bad_files_are_skipped_with_one_warning_each(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_articles(tmp_path, {"good.txt": "The river flooded the old town on Friday night."})
    (tmp_path / "empty.txt").write_text("   \n")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\x00\x00\x01binary")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (tmp_path / "broken.jsonl").write_text('{"id": "x", "text": "Fine line here."}\n{not json}\n')
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    with caplog.at_level(logging.WARNING, logger="retrieval.ingest.files"):
        result = load_articles(tmp_path)
    assert sorted(a.id for a in result.articles) == ["good.txt", "x"]
    skipped = {s.path: s.reason for s in result.skipped}
    assert set(skipped) == {"empty.txt", "binary.txt", "latin1.txt", "broken.jsonl:2", "photo.png"}
    assert skipped["binary.txt"] == "binary file"
    assert "UTF-8" in skipped["latin1.txt"]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 5 and all(w.startswith("skipped ") for w in warnings)


def test_unreadable_file_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_articles(tmp_path, {"ok.txt": "Snow fell in the capital.", "locked.txt": "Secret."})
    import retrieval.ingest.files

    real = retrieval.ingest.files.read_bytes

    def read_bytes(path: Path, cap: int | None) -> tuple[bytes, int]:
        if path.name == "locked.txt":
            raise PermissionError(13, "Permission denied")  # as root, chmod 000 would not stop a read
        return real(path, cap)

    monkeypatch.setattr(retrieval.ingest.files, "read_bytes", read_bytes)
    result = load_articles(tmp_path)
    assert [a.id for a in result.articles] == ["ok.txt"]
    assert result.skipped[0].path == "locked.txt" and "Permission denied" in result.skipped[0].reason


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SeedsNotFoundError, match="seeds directory not found"):
        load_articles(tmp_path / "nope")


def test_a_single_jsonl_file_is_a_corpus(seeds_dir: Path) -> None:
    result = load_articles(seeds_dir / "wire.jsonl")
    assert [a.id for a in result.articles] == ["wire-1", "wire-2"]


def test_a_cache_rereads_only_changed_files(seeds_dir: Path, files_read: list[str]) -> None:
    read = files_read
    cache = IngestCache()
    first = load_articles(seeds_dir, cache)
    assert sorted(read) == sorted(p.name for p in seeds_dir.iterdir()) and cache.reused == 0
    read.clear()
    again = load_articles(seeds_dir, cache)
    assert read == [] and again == first  # nothing read, the same result (skips and duplicates too)

    # Same size, new words: the times (and so the key) change, the file is read again.
    harbour = seeds_dir / "harbour.txt"
    text = harbour.read_text()
    harbour.write_text(text.replace("Tallinn", "Tallinx"))
    (seeds_dir / "extra.md").write_text("# Extra\n\nA new article about kestrels nesting on the tower.\n")
    (seeds_dir / "wildlife.html").unlink()
    read.clear()
    third = load_articles(seeds_dir, cache)
    assert sorted(read) == ["extra.md", "harbour.txt"]
    ids = {a.id for a in third.articles}
    assert "extra.md" in ids and "wildlife.html" not in ids
    assert "Tallinx" in next(a for a in third.articles if a.id == "harbour.txt").text
    assert third.articles == load_articles(seeds_dir).articles  # the same as reading everything


def test_a_gzipped_jsonl_corpus_with_meta_fields(tmp_path: Path) -> None:
    import gzip

    record = {
        "id": "news:1",
        "title": "Port reopens",
        "date": "2023-02-01",
        "text": "The port reopened on Wednesday after the strike ended.",
        "meta": {"url": "https://example.com/port", "source": "Example Times"},
    }
    corpus = tmp_path / "corpus.jsonl.gz"
    corpus.write_bytes(gzip.compress((json.dumps(record) + "\n").encode()))
    (article,) = load_articles(corpus).articles
    assert (article.id, article.url, article.source) == ("news:1", "https://example.com/port", "Example Times")


@pytest.mark.parametrize("module", ["trafilatura", "lxml.html.clean", "frontmatter", "dateutil.parser", "sentencex"])
def test_every_ingest_path_can_import_its_parser(module: str) -> None:
    """A parser an ingest path needs but cannot import would skip every such file: fail here instead
    (pip 23 once installed lxml without ``lxml_html_clean``, and no HTML article was read)."""
    importlib.import_module(module)
