"""Any OpenAI-compatible chat server (Ollama, llama.cpp's server, vLLM, LM Studio, OpenAI) through ``openai``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from retrieval.answer.llm.base import Message
from retrieval.config import LLMConfig
from retrieval.errors import LLMConfigError, LLMError, LLMTimeoutError

log = logging.getLogger(__name__)

NO_KEY = "not-needed"
"""Sent as the API key when none is set: local servers ignore it, the client insists on one."""


READ_GRACE = 1.0
"""Seconds the client waits for the server past the answer's budget: the budget (``LLMConfig.timeout``,
enforced around the whole stream) is what a user meets; the client's own read timeout only guards a
socket nobody watches, so it must never fire first (on a loaded machine both fired at once)."""


class OpenAIChatModel:
    """Streams chat completions from ``config.url``; one client (and connection pool) per engine."""

    def __init__(self, config: LLMConfig) -> None:
        try:
            import openai
        except ImportError as exc:
            raise LLMConfigError(
                "written answers need the openai package: pip install -e '.[llm]' (or pip install -c "
                "requirements.lock openai)"
            ) from exc
        self._openai = openai
        self._config = config
        self._client = openai.OpenAI(
            base_url=config.url,
            api_key=config.api_key or NO_KEY,
            timeout=openai.Timeout(config.timeout + READ_GRACE, connect=config.connect_timeout),
            max_retries=0,
        )
        self._model = config.model
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The configured model name (or the server's first, once asked)."""
        return self._model or f"the model at {self._config.url}"

    def _model_name(self) -> str:
        """The configured model, else the first one the server lists (asked once)."""
        if self._model:
            return self._model
        with self._lock:
            if not self._model:
                try:
                    listed = self._client.models.list()
                    first = next(iter(listed.data), None)
                except self._openai.APIError as exc:
                    raise self._error(exc) from exc
                if first is None:
                    raise LLMError(f"the server at {self._config.url} lists no model", setting="llm_model")
                self._model = first.id
                log.info("language model: %s (the first one %s lists)", self._model, self._config.url)
        return self._model

    def _error(self, exc: Exception) -> LLMError:
        """An OpenAI client error as one of newsdesk's, with a one-line reason."""
        where = self._config.url
        if isinstance(exc, self._openai.APITimeoutError):
            return LLMTimeoutError(f"the language model at {where} did not answer in time")
        if isinstance(exc, self._openai.APIConnectionError):
            return LLMError(f"the language model at {where} is unreachable")
        if isinstance(exc, self._openai.APIStatusError):
            return LLMError(f"the language model at {where} answered HTTP {exc.status_code}")
        return LLMError(f"the language model at {where} failed: {type(exc).__name__}")

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: threading.Event,
    ) -> Iterator[str]:
        """The reply's text pieces as the server streams them."""
        request: list[Any] = [{"role": m.role, "content": m.content} for m in messages]
        try:
            chunks = self._client.chat.completions.create(
                model=self._model_name(),
                messages=request,
                max_tokens=max_tokens,
                temperature=temperature,
                stream=True,
            )
        except self._openai.APIError as exc:
            raise self._error(exc) from exc
        finished = False
        try:
            for chunk in chunks:
                if stop.is_set():
                    return
                for choice in chunk.choices:
                    if choice.delta is not None and choice.delta.content:
                        yield choice.delta.content
                    finished = finished or choice.finish_reason is not None
        except self._openai.APITimeoutError as exc:
            raise self._error(exc) from exc
        except Exception as exc:  # the connection dropped after the reply began (openai's or httpx's error)
            raise LLMError(f"the language model at {self._config.url} stopped mid-answer") from exc
        finally:
            chunks.close()
        if not finished:  # a stream closed without saying why: the server went away mid-answer
            raise LLMError(f"the language model at {self._config.url} stopped mid-answer")

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
