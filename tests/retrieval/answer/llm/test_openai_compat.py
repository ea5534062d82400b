"""The OpenAI-compatible client's own limits, beside the answer's budget."""

from __future__ import annotations

from retrieval.answer.llm.openai_compat import OpenAIChatModel
from retrieval.config import LLMConfig


def test_the_clients_read_timeout_never_fires_before_the_answers_budget() -> None:
    # The budget around the whole stream is what a user meets ("took longer than 3 s"); the client's
    # read timeout firing at the same instant gave a loaded machine the other message.
    model = OpenAIChatModel(LLMConfig(answerer="llm", url="http://127.0.0.1:9/v1", timeout=3.0))
    timeout = model._client.timeout
    assert timeout.read is not None and timeout.read > 3.0
    assert timeout.connect == LLMConfig().connect_timeout
