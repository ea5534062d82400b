"""The polite fetcher against the loopback site: limits, redirects, timeouts, pacing, charsets."""

from __future__ import annotations

import pytest

from retrieval.errors import FetchError
from retrieval.feeds import http
from retrieval.feeds.config import FeedsConfig
from retrieval.feeds.http import Fetcher, HostGate, decode_body, retry_after
from tests.retrieval.feeds.newssite import NewsSite


@pytest.mark.parametrize(
    ("body", "ctype", "expected"),
    [
        ("café “quoted”".encode(), "text/html; charset=iso-8859-1", "café “quoted”"),  # says latin-1, is UTF-8
        ("café".encode("windows-1252"), "text/html; charset=utf-8", "café"),  # says UTF-8, is not
        ("naïve".encode("windows-1252"), "text/html; charset=windows-1252", "naïve"),
        ('<meta charset="koi8-r"><p>привет</p>'.encode("koi8-r"), "text/html", '<meta charset="koi8-r"><p>привет</p>'),
        (b"\xef\xbb\xbfplain", "", "plain"),
    ],
)
def test_bodies_decode_right_whatever_charset_they_claim(body: bytes, ctype: str, expected: str) -> None:
    assert decode_body(body, ctype) == expected


def test_retry_after_takes_seconds_or_a_date() -> None:
    assert retry_after("120") == 120.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 60) == pytest.approx(60.0)
    assert retry_after("soon") is None and retry_after(None) is None


class FakeClock:
    """``time`` for the gate: a clock that moves only when the gate sleeps, and the sleeps it asked for."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_host_gate_spaces_requests_to_one_host(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(http, "time", clock)  # the waits are the gate's arithmetic, not the machine's speed
    gate = HostGate(connections=4, delay=0.1)
    starts: list[float] = []
    for _ in range(4):
        with gate.slot("example.org"):
            starts.append(clock.now)
    assert starts == pytest.approx([1000.0, 1000.1, 1000.2, 1000.3])  # the fourth start waited for three delays
    waited = len(clock.sleeps)
    with gate.slot("other.org"):  # another host does not wait
        assert len(clock.sleeps) == waited


@pytest.fixture
def fetcher(config: FeedsConfig) -> Fetcher:
    with Fetcher(config) as made:
        yield made


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/bad/slow.rss", "timed out"),
        ("/bad/error500.rss", "HTTP 500"),
        ("/bad/gone.rss", "HTTP 404"),
        ("/bad/loop-a.rss", "redirect loop"),
        ("/bad/huge.rss", "over the 1,000,000-byte limit (stopped reading)"),
        ("/bad/huge-declared.rss", "over the 1,000,000-byte limit (not read)"),
        ("/bad/bomb.rss", "over the 1,000,000-byte limit (stopped reading)"),
    ],
)
def test_faults_become_one_line_reasons(site: NewsSite, fetcher: Fetcher, path: str, reason: str) -> None:
    # The reasons tell the 100 MB body was cut off and the slow server not waited for.
    with pytest.raises(FetchError, match=reason.replace("(", r"\(").replace(")", r"\)")) as caught:
        fetcher.get(site.base + path)
    assert "\n" not in str(caught.value)


def test_busy_server_says_when_to_come_back(site: NewsSite, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError) as caught:
        fetcher.get(site.base + "/bad/busy.rss")
    assert caught.value.status == 503 and caught.value.retry_after == 120.0 and not caught.value.permanent


def test_too_many_redirects(site: NewsSite, config: FeedsConfig) -> None:
    from dataclasses import replace

    with Fetcher(replace(config, max_redirects=0)) as strict, pytest.raises(FetchError, match="more than 0 redirects"):
        strict.get(site.base + "/bad/loop-a.rss")


def test_a_clear_user_agent_and_gzip(site: NewsSite, fetcher: Fetcher) -> None:
    response = fetcher.get(site.base + "/robots.txt")
    assert response.status == 200 and b"Disallow" in response.body
    assert any(agent.startswith("newsdesk/") for agent in site.agents)


def test_unreachable_host(fetcher: Fetcher) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match="cannot connect"):
        fetcher.get(f"http://127.0.0.1:{port}/feed")
