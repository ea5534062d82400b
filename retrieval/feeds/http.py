"""Polite HTTP: timeouts, a size cap while streaming, counted redirects, per-host pacing, charsets."""

from __future__ import annotations

import codecs
import email.utils
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from retrieval.errors import FetchError
from retrieval.feeds.config import FeedsConfig

log = logging.getLogger(__name__)

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


@dataclass(frozen=True)
class Fetched:
    """One HTTP response, read whole (within the size cap)."""

    url: str
    """Where the body came from, after redirects."""
    status: int
    headers: Mapping[str, str]
    body: bytes
    redirects: tuple[str, ...] = ()
    """The URLs redirected from, in order."""
    permanent_redirect: bool = False
    """True if every redirect on the way was permanent (301/308): the new URL replaces the old."""

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case (``text/html``)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def text(self) -> str:
        """The body decoded (see :func:`decode_body`)."""
        return decode_body(self.body, self.headers.get("content-type", ""))


def host_of(url: str) -> str:
    """The host name of a URL, lower case, without port or user."""
    return (urlsplit(url).hostname or "").lower()


def _lookup(name: str) -> str | None:
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except (LookupError, ValueError):
        return None


def declared_charset(body: bytes, content_type: str) -> str | None:
    """The charset the response says it uses: the Content-Type header, else the XML declaration or meta tag."""
    match = re.search(r"charset\s*=\s*[\"']?([^;\"'\s]+)", content_type, re.IGNORECASE)
    if match and (found := _lookup(match.group(1))):
        return found
    head = body[:4096]
    for pattern in (_XML_ENCODING, _META_CHARSET):
        hit = pattern.search(head)
        if hit and (found := _lookup(hit.group(1).decode("ascii", "replace"))):
            return found
    return None


def decode_body(body: bytes, content_type: str = "") -> str:
    """Bytes to text the way browsers get it right in practice, even when the declared charset is wrong.

    A byte-order mark wins; then valid UTF-8 (which text in another charset almost never is, so a page
    that says latin-1 but is UTF-8 reads right); then the declared charset if the bytes decode in it;
    then charset_normalizer's guess; then windows-1252; last, UTF-8 with replacement characters.
    """
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body.decode(encoding, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = declared_charset(body, content_type)
    if declared and declared not in ("utf-8", "ascii"):
        try:
            return body.decode(declared)
        except (UnicodeDecodeError, LookupError):
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(body[:200_000]).best()
    if best is not None and best.encoding and not best.encoding.startswith("utf_16", 0) and "32" not in best.encoding:
        try:  # (UTF-16 or -32 without a byte-order mark is a misguess on the web)
            return body.decode(best.encoding)
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        return body.decode("windows-1252")  # what browsers fall back to for legacy Western pages
    except UnicodeDecodeError:
        return body.decode("utf-8", errors="replace")


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


@dataclass
class _Host:
    slots: threading.Semaphore
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_start: float = 0.0
    delay: float = 0.0


class HostGate:
    """At most ``connections`` requests in flight per host, their starts at least ``delay`` seconds apart."""

    def __init__(self, connections: int, delay: float) -> None:
        self._connections = max(1, connections)
        self._delay = max(0.0, delay)
        self._hosts: dict[str, _Host] = {}
        self._lock = threading.Lock()

    def _host(self, host: str) -> _Host:
        with self._lock:
            if host not in self._hosts:
                self._hosts[host] = _Host(threading.Semaphore(self._connections), delay=self._delay)
            return self._hosts[host]

    def slow_down(self, host: str, delay: float) -> None:
        """Space this host's requests at least ``delay`` apart (a robots.txt Crawl-delay)."""
        entry = self._host(host)
        with entry.lock:
            entry.delay = max(entry.delay, min(delay, 60.0))

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        """Hold one of the host's request slots, after waiting for its turn."""
        entry = self._host(host)
        with entry.slots:
            with entry.lock:
                now = time.monotonic()
                start = max(now, entry.next_start)
                entry.next_start = start + entry.delay
            if start > now:
                time.sleep(start - now)
            yield


class Fetcher:
    """GETs URLs politely (one shared connection pool; safe from many threads)."""

    def __init__(self, config: FeedsConfig) -> None:
        self.config = config
        self.gate = HostGate(config.host_connections, config.host_delay)
        self.requests = 0
        """Requests sent so far (for reports and benchmarks)."""
        self._count_lock = threading.Lock()
        self._client = httpx.Client(
            timeout=httpx.Timeout(
                connect=config.connect_timeout,
                read=config.read_timeout,
                write=config.read_timeout,
                pool=config.total_timeout,
            ),
            headers={"User-Agent": config.agent},
            follow_redirects=False,
            limits=httpx.Limits(max_connections=max(4, config.workers * 2), max_keepalive_connections=config.workers),
            trust_env=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, *, accept: str = PAGE_ACCEPT, headers: Mapping[str, str] | None = None) -> Fetched:
        """GET ``url``, following redirects up to the limit; a 2xx or 304 response, else FetchError."""
        extra = {"Accept": accept, **(headers or {})}
        seen = [url]
        permanent = True
        current = url
        while True:
            scheme = urlsplit(current).scheme.lower()
            if scheme not in ("http", "https"):
                raise FetchError(f"not an http(s) URL: {current}", permanent=True)
            response = self._one(current, extra)
            if response.status in (301, 302, 303, 307, 308) and "location" in response.headers:
                try:
                    target = str(httpx.URL(current).join(response.headers["location"]))
                except httpx.InvalidURL as exc:
                    raise FetchError(f"bad redirect from {current}: {exc}") from exc
                permanent = permanent and response.status in (301, 308)
                if target in seen:
                    raise FetchError("redirect loop: " + " → ".join([*seen[seen.index(target) :], target]))
                if len(seen) > self.config.max_redirects:
                    raise FetchError(f"more than {self.config.max_redirects} redirects (last to {target})")
                seen.append(target)
                current = target
                continue
            return Fetched(
                url=current,
                status=response.status,
                headers=response.headers,
                body=response.body,
                redirects=tuple(seen[:-1]),
                permanent_redirect=permanent and len(seen) > 1,
            )

    def _one(self, url: str, headers: Mapping[str, str]) -> Fetched:
        """One request, no redirect followed; raises FetchError on a network error or an error status."""
        host = host_of(url)
        with self.gate.slot(host):
            with self._count_lock:
                self.requests += 1
            started = time.monotonic()
            try:
                request = self._client.build_request("GET", url, headers=headers)
                response = self._client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise FetchError(_describe(exc, self.config)) from exc
            try:
                status = response.status_code
                head = {k.lower(): v for k, v in response.headers.items()}
                if status in (301, 302, 303, 307, 308, 304) or not 200 <= status < 300:
                    if 300 <= status < 400:
                        return Fetched(url, status, head, b"")
                    raise FetchError(
                        f"HTTP {status} {response.reason_phrase}".rstrip(),
                        status=status,
                        retry_after=retry_after(head.get("retry-after")),
                        permanent=status in (404, 410),
                    )
                body = self._read(response, head, started)
            except httpx.HTTPError as exc:
                raise FetchError(_describe(exc, self.config)) from exc
            finally:
                response.close()
        return Fetched(url, status, head, body)

    def _read(self, response: httpx.Response, head: Mapping[str, str], started: float) -> bytes:
        limit = self.config.max_bytes
        declared = head.get("content-length", "")
        if declared.isdigit() and int(declared) > limit and "content-encoding" not in head:
            raise FetchError(f"body of {int(declared):,} bytes is over the {limit:,}-byte limit (not read)")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes(65_536):
            size += len(chunk)
            if size > limit:
                raise FetchError(f"body over the {limit:,}-byte limit (stopped reading)")
            if time.monotonic() - started > self.config.total_timeout:
                raise FetchError(f"response took longer than {self.config.total_timeout:g}s (stopped reading)")
            chunks.append(chunk)
        return b"".join(chunks)


def _describe(exc: httpx.HTTPError, config: FeedsConfig) -> str:
    """A one-line reason for a transport error."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"no connection within {config.connect_timeout:g}s"
    if isinstance(exc, httpx.ReadTimeout):
        return f"no data for {config.read_timeout:g}s (timed out)"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc or 'refused'})"
    if isinstance(exc, httpx.DecodingError):
        return f"undecodable body ({exc})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server broke the exchange ({exc})"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return f"bad URL ({exc})"
    return f"{type(exc).__name__}: {exc}"
