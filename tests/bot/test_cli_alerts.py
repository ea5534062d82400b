"""`newsdesk follow add|list|remove` and `newsdesk brief` (on the real model and the seeds): output, JSON and
one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from retrieval.alerts.store import TopicStore, alerts_db
from tests.bot.test_cli import assert_one_line_error, run
from tests.conftest import SEEDS


def test_follow_add_list_remove_without_an_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = str(tmp_path / "index")
    code, _, err = run(capsys, "follow", "add", "grain exports", "--channel", "<#1234>", "--index", index)
    assert code == 0 and err.startswith("Following “grain exports” in channel 1234 (id 1).")
    assert 'newsdesk brief "grain exports" --since 7d' in err
    code, _, err = run(capsys, "follow", "add", "Grain  Exports", "--channel", "1234", "--index", index)
    assert code == 1
    assert_one_line_error(err, "this channel already follows “grain exports”")
    code, out, _ = run(capsys, "follow", "list", "--json", "--index", index)
    [listed] = json.loads(out)
    assert listed["topic"] == "grain exports" and listed["channel_id"] == 1234 and listed["guild_id"] is None
    code, out, _ = run(capsys, "follow", "list", "--index", index)
    assert out.startswith("1  “grain exports”  channel 1234  added ")
    assert not TopicStore(alerts_db(tmp_path / "index")).has_baseline  # no index yet: the bot's first one is it
    code, _, err = run(capsys, "follow", "remove", "GRAIN exports", "--index", index)
    assert code == 0 and err.strip() == "No longer following “grain exports” in channel 1234."
    code, _, err = run(capsys, "follow", "remove", "grain exports", "--index", index)
    assert code == 1
    assert_one_line_error(err, "not following “grain exports” (see `newsdesk follow list`)")
    code, _, err = run(capsys, "follow", "list", "--index", index)
    assert code == 0 and "No topic is followed" in err


def test_follow_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = str(tmp_path / "index")
    code, _, err = run(capsys, "follow", "add", "?!", "--channel", "5", "--index", index)
    assert code == 1
    assert_one_line_error(err, "the topic “?!” has nothing to match")
    with pytest.raises(SystemExit) as exit_info:
        main(["follow", "add", "wolves", "--channel", "general", "--index", index])
    assert exit_info.value.code == 2 and "Copy Channel ID" in capsys.readouterr().err


def test_brief_refuses_a_bad_since(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "brief", "--since", "last year", "--index", str(tmp_path / "i"), "--seeds", str(SEEDS))
    assert code == 1
    assert_one_line_error(err, "“last year” is not a date: use YYYY-MM-DD, or 24h, 3d, 1w")


@pytest.mark.model
def test_brief_on_the_seeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = str(tmp_path / "index")
    assert main(["index", "--index", index, "--seeds", str(SEEDS)]) == 0
    capsys.readouterr()
    code, out, _ = run(capsys, "brief", "--as-of", "2022-03-13", "--json", "--index", index)
    data = json.loads(out)
    assert code == 0 and (data["since"], data["until"]) == ("2022-03-12", "2022-03-13")
    assert data["articles"] == 2 and 1 <= data["total_stories"] <= 2
    cited = [c for s in data["stories"] for c in s["citations"]]
    assert len({c["article_id"] for c in cited}) == 2 and [c["number"] for c in cited] == [1, 2]
    texts = {p.name: p.read_text(encoding="utf-8") for p in SEEDS.iterdir()}
    for story in data["stories"]:
        assert any(" ".join(story["quote"].split()) in " ".join(t.split()) for t in texts.values())  # verbatim
    code, out, _ = run(capsys, "brief", "--as-of", "2022-03-13", "--index", index)
    assert out.startswith("Briefing 2022-03-12 … 2022-03-13: ") and "1. “" in out and "[1]" in out
    code, out, _ = run(capsys, "brief", "Turkey will not sanction Russia", "--as-of", "2022-03-20", "--since", "2w",
                       "--json", "--index", index)  # fmt: skip
    topical = json.loads(out)
    assert code == 0 and topical["topic"] == "Turkey will not sanction Russia" and topical["stories"]
    code, out, _ = run(capsys, "brief", "--as-of", "2022-03-11", "--index", index)
    assert "no article was published in these days" in out

    code, _, err = run(capsys, "follow", "add", "Turkey and Russia", "--channel", "9", "--index", index)
    assert code == 0 and TopicStore(alerts_db(Path(index))).has_baseline  # the seeds are not news to it
