"""Pick the language-model backend from the config."""

from __future__ import annotations

from retrieval.answer.llm.base import ChatModel
from retrieval.config import LLMConfig
from retrieval.errors import LLMConfigError


def make_chat_model(config: LLMConfig) -> ChatModel:
    """The GGUF model in process when ``gguf`` is set, else the OpenAI-compatible server at ``url``."""
    if config.gguf:
        from retrieval.answer.llm.gguf import GGUFChatModel

        return GGUFChatModel(config)
    if config.url:
        from retrieval.answer.llm.openai_compat import OpenAIChatModel

        return OpenAIChatModel(config)
    raise LLMConfigError(
        "written answers need a language model: an OpenAI-compatible server (e.g. http://127.0.0.1:11434/v1 "
        "for Ollama) or a local .gguf file",
        setting="llm_url",
    )
