"""A local GGUF model run in this process through llama-cpp-python (one generation at a time)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from retrieval.answer.llm.base import Message
from retrieval.config import LLMConfig
from retrieval.errors import LLMConfigError, LLMError

log = logging.getLogger(__name__)


class GGUFChatModel:
    """llama.cpp in process: the weights load on first use; a lock serialises generations."""

    def __init__(self, config: LLMConfig) -> None:
        path = Path(config.gguf).expanduser()
        if not path.is_file():
            raise LLMConfigError(f"no GGUF model at {path}", setting="llm_gguf")
        try:
            import llama_cpp  # noqa: F401
        except ImportError as exc:
            raise LLMConfigError(
                "a local GGUF model needs llama-cpp-python: run scripts/setup.sh (it builds the llm extra)"
            ) from exc
        self._path = path
        self._config = config
        self._llama: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The GGUF file's name."""
        return self._path.name

    def _load(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama

            try:
                self._llama = Llama(
                    model_path=str(self._path),
                    n_ctx=self._config.context_tokens,
                    n_threads=self._config.threads,
                    n_threads_batch=self._config.threads,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise LLMConfigError(f"cannot load the GGUF model {self._path}: {exc}") from exc
            log.info(
                "loaded %s (%d threads, context %d)", self._path, self._config.threads, self._config.context_tokens
            )
        return self._llama

    def load(self) -> None:
        """Load the weights now (a service does this before it answers)."""
        with self._lock:
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
        with self._lock:
            llama = self._load()
            request: list[Any] = [{"role": m.role, "content": m.content} for m in messages]
            try:
                chunks = llama.create_chat_completion(
                    messages=request, max_tokens=max_tokens, temperature=temperature, stream=True
                )
                for chunk in chunks:
                    if stop.is_set():
                        return
                    for choice in chunk.get("choices", ()):
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            yield text
            except (ValueError, RuntimeError) as exc:
                raise LLMError(f"the GGUF model {self._path.name} failed: {exc}") from exc

    def close(self) -> None:
        """Free the weights."""
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None
