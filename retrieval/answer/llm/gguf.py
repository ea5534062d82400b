"""A local GGUF model run in this process through xllamacpp (prebuilt llama.cpp, nothing compiles).

xllamacpp embeds llama.cpp's own server: the weights load once, requests are queued by its C++
scheduler (thread safe), and a reply streams through a callback that can stop it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from retrieval.answer.llm.base import Message
from retrieval.config import LLMConfig
from retrieval.errors import LLMConfigError, LLMError

log = logging.getLogger(__name__)

QUIET = -1
"""llama.cpp's log verbosity: nothing on stderr (a CLI answer must not scroll its load log)."""
_END = object()


def server_params(path: Path, config: LLMConfig, *, alias: str, port: int | None = None) -> Any:
    """xllamacpp's parameters for ``path`` as this config asks (threads, context, one slot, 127.0.0.1)."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.model_alias = {alias}  # a set: the names the server answers to
    params.n_ctx = config.context_tokens
    params.n_parallel = 1
    params.cpuparams.n_threads = config.threads
    params.cpuparams_batch.n_threads = config.threads
    params.hostnames = ["127.0.0.1"]
    if port is not None:
        params.port = port
    params.warmup = False
    params.verbosity = QUIET
    return params


class GGUFChatModel:
    """llama.cpp in process: the weights load on first use (or ``load``) and stay until ``close``."""

    def __init__(self, config: LLMConfig) -> None:
        path = Path(config.gguf).expanduser()
        if not path.is_file():
            raise LLMConfigError(f"no GGUF model at {path}", setting="llm_gguf")
        try:
            import xllamacpp  # noqa: F401
        except ImportError as exc:
            raise LLMConfigError(
                "a local GGUF model needs xllamacpp: pip install -c requirements.lock -e '.[llm]'"
            ) from exc
        self._path = path
        self._config = config
        self._server: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The GGUF file's name."""
        return self._path.name

    def _load(self) -> Any:
        with self._lock:
            if self._server is None:
                import xllamacpp

                try:
                    self._server = xllamacpp.Server(server_params(self._path, self._config, alias=self._path.stem))
                except RuntimeError as exc:
                    raise LLMConfigError(f"cannot load the GGUF model {self._path}: {exc}") from exc
                log.info(
                    "loaded %s (%d threads, context %d)",
                    self._path,
                    self._config.threads,
                    self._config.context_tokens,
                )
            return self._server

    def load(self) -> None:
        """Load the weights now (a service does this before it answers)."""
        self._load()

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: threading.Event,
    ) -> Iterator[str]:
        """The reply's text pieces as llama.cpp generates them (the model's own chat template)."""
        server = self._load()
        request = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        chunks: queue.Queue[Any] = queue.Queue()

        def on_chunk(chunk: Any) -> bool:
            chunks.put(chunk)
            return stop.is_set()  # True tells llama.cpp to stop generating

        def run() -> None:
            try:
                server.handle_chat_completions(request, on_chunk)
            except Exception as exc:  # xllamacpp raises plain RuntimeError/ValueError
                chunks.put(LLMError(f"the GGUF model {self._path.name} failed: {exc}"))
            chunks.put(_END)

        threading.Thread(target=run, name="newsdesk-gguf", daemon=True).start()
        while (chunk := chunks.get()) is not _END:
            if isinstance(chunk, LLMError):
                raise chunk
            if stop.is_set():
                return
            if isinstance(chunk, dict) and "error" in chunk:
                raise LLMError(f"the GGUF model {self._path.name} failed: {chunk['error']}")
            for choice in chunk.get("choices", ()) if isinstance(chunk, dict) else ():
                text = (choice.get("delta") or {}).get("content")
                if text:
                    yield text

    def close(self) -> None:
        """Free the weights (the embedded server stops when it is released)."""
        with self._lock:
            self._server = None
