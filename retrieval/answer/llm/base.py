"""What every language-model backend offers: stream the reply to a chat, piece by piece."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Message:
    """One chat message: ``system``, ``user`` or ``assistant``, and its text."""

    role: str
    content: str


class ChatModel(Protocol):
    """A chat model that streams its reply; errors are ``LLMError`` (or ``LLMTimeoutError``)."""

    @property
    def name(self) -> str:
        """The model's name, for logs and the answer's note."""
        ...

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: threading.Event,
    ) -> Iterator[str]:
        """The reply's text in pieces as they are generated; ends early once ``stop`` is set."""
        ...

    def close(self) -> None:
        """Release the connection pool or the loaded weights."""
        ...
