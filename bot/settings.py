"""Every setting newsdesk reads: from NEWSDESK_* environment variables or a .env file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from retrieval.config import (
    DEFAULT_MODEL,
    AnswerConfig,
    ChunkingConfig,
    EmbeddingConfig,
    EngineConfig,
    IngestConfig,
    LLMConfig,
    SearchConfig,
    VectorConfig,
)
from retrieval.feeds.config import FeedsConfig

_ANSWER = AnswerConfig()
_SEARCH = SearchConfig()
_CHUNKING = ChunkingConfig()
_EMBEDDING = EmbeddingConfig()
_VECTORS = VectorConfig()
_INGEST = IngestConfig()
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_LLM = LLMConfig()
_FEEDS = FeedsConfig()


class Settings(BaseSettings):
    """newsdesk's configuration. Build it in ``main()``, never at import."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSDESK_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # where things are
    index_dir: Path = Path("index")
    seeds_dir: Path = Path("seeds")
    # the embedding model
    model: str = DEFAULT_MODEL
    device: str = _EMBEDDING.device
    dtype: str = _EMBEDDING.dtype
    batch_size: int = Field(_EMBEDDING.batch_size, ge=1)
    embed_backend: str = _EMBEDDING.backend
    quantize: str = _EMBEDDING.quantize
    onnx_cache: Path | None = None
    embed_threads: int = Field(_EMBEDDING.threads, ge=0)
    embed_cache: Path | None = None
    # reading the seeds
    max_article_chars: int = Field(_INGEST.max_article_chars, ge=1_000)
    # chunking
    chunk_tokens: int = Field(_CHUNKING.max_tokens, ge=16)
    chunk_overlap: int = Field(_CHUNKING.overlap_sentences, ge=0)
    # retrieval and answers
    k: int = Field(_SEARCH.k, ge=1, le=50)
    search_mode: str = _SEARCH.mode
    rerank_depth: int = Field(_SEARCH.rerank_depth, ge=0, le=200)
    time_words: str = _SEARCH.time_words
    window_weight: float = Field(_SEARCH.window_weight, ge=0.0, le=10.0)
    recency_weight: float = Field(_SEARCH.recency_weight, ge=0.0, le=10.0)
    recency_days: float = Field(_SEARCH.recency_days, gt=0.0)
    max_sentences: int = Field(_ANSWER.max_sentences, ge=1, le=4)
    min_confidence: float | None = Field(_ANSWER.min_confidence, ge=0.0, le=1.0)
    ranker: str = "default"
    max_question_chars: int = Field(_ANSWER.max_question_chars, ge=10)
    log_level: str = "WARNING"
    # the vector store
    vector_backend: str = _VECTORS.backend
    vector_exact_max: int = Field(_VECTORS.exact_max, ge=0)
    vector_ann: str = _VECTORS.ann
    vector_params: dict[str, float] = Field(default_factory=dict)
    vector_threads: int = Field(_VECTORS.threads, ge=1)
    vector_mmap: bool = _VECTORS.mmap
    milvus_uri: str = _VECTORS.milvus_uri
    milvus_token: SecretStr | None = None
    milvus_collection: str = Field(_VECTORS.milvus_collection, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,180}$")
    # written answers (a language model; README "Written answers")
    answerer: str = _LLM.answerer
    llm_url: str = _LLM.url
    llm_model: str = _LLM.model
    llm_api_key: SecretStr | None = None
    llm_gguf: Path | None = None
    llm_threads: int = Field(_LLM.threads, ge=1)
    llm_context: int = Field(_LLM.context_tokens, ge=512)
    llm_timeout: float = Field(_LLM.timeout, gt=0)
    llm_connect_timeout: float = Field(_LLM.connect_timeout, gt=0)
    llm_max_tokens: int = Field(_LLM.max_tokens, ge=16, le=4096)
    llm_temperature: float = Field(_LLM.temperature, ge=0.0, le=2.0)
    llm_passages: int = Field(_LLM.passages, ge=1, le=20)
    llm_support_threshold: float | None = Field(None, ge=0.0, le=1.0)
    llm_show_unverified: bool = _LLM.show_unverified
    llm_mode: Literal["quote", "write", "passages"] = _LLM.mode  # type: ignore[assignment]
    # Discord
    discord_token: SecretStr | None = None
    discord_guild_id: int | None = None
    discord_channels: Annotated[list[int], NoDecode] = Field(default_factory=list)
    cooldown_questions: int = Field(4, ge=1)
    cooldown_seconds: float = Field(60.0, gt=0)
    answer_chars: int = Field(1500, ge=200, le=4096)
    mention_replies_in_thread: bool = False
    discord_mentions: bool = True
    discord_workers: int = Field(4, ge=1, le=32)
    feedback_db: Path = Path("feedback.sqlite3")
    # following feeds (`newsdesk feeds`, `update`, `watch`)
    feeds_db: Path = Path("feeds.sqlite3")
    feeds_interval: float = Field(_FEEDS.interval, ge=1)
    feeds_max_backoff: float = Field(_FEEDS.max_backoff, ge=1)
    feeds_connect_timeout: float = Field(_FEEDS.connect_timeout, gt=0)
    feeds_timeout: float = Field(_FEEDS.read_timeout, gt=0)
    feeds_total_timeout: float = Field(_FEEDS.total_timeout, gt=0)
    feeds_max_bytes: int = Field(_FEEDS.max_bytes, ge=10_000)
    feeds_max_redirects: int = Field(_FEEDS.max_redirects, ge=0, le=20)
    feeds_host_delay: float = Field(_FEEDS.host_delay, ge=0)
    feeds_host_connections: int = Field(_FEEDS.host_connections, ge=1, le=16)
    feeds_workers: int = Field(_FEEDS.workers, ge=1, le=64)
    feeds_fetch_pages: bool = _FEEDS.fetch_pages
    feeds_page_attempts: int = Field(_FEEDS.page_attempts, ge=1, le=20)
    feeds_contact: str = _FEEDS.contact
    feeds_user_agent: str = _FEEDS.user_agent
    watch_polling: bool = False
    watch_poll_seconds: float = Field(2.0, gt=0)

    @field_validator("discord_channels", mode="before")
    @classmethod
    def _split_channels(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(",", " ").split()]
        return value

    @field_validator("index_dir", "seeds_dir", "feedback_db", mode="before")
    @classmethod
    def _not_empty(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty (an empty path would mean the current directory)")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.strip().upper() not in LOG_LEVELS:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value.strip().upper()

    @field_validator("search_mode")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        if value not in ("hybrid", "dense", "lexical"):
            raise ValueError("must be hybrid, dense or lexical")
        return value

    @field_validator("min_confidence", mode="before")
    @classmethod
    def _empty_is_fitted(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("time_words")
    @classmethod
    def _known_time_words(cls, value: str) -> str:
        if value not in ("prior", "strict", "off"):
            raise ValueError("must be prior, strict or off")
        return value

    @field_validator("vector_backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in ("faiss", "milvus"):
            raise ValueError("must be faiss or milvus")
        return value

    @field_validator("vector_ann")
    @classmethod
    def _known_ann(cls, value: str) -> str:
        if value not in ("hnsw", "ivf"):
            raise ValueError("must be hnsw or ivf")
        return value

    @field_validator("embed_backend")
    @classmethod
    def _known_embed_backend(cls, value: str) -> str:
        if value not in ("auto", "torch", "onnx"):
            raise ValueError("must be auto, torch or onnx")
        return value

    @field_validator("quantize")
    @classmethod
    def _known_quantize(cls, value: str) -> str:
        if value not in ("int8", "none"):
            raise ValueError("must be int8 or none")
        return value

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str) -> str:
        if value not in ("auto", "float32", "bfloat16"):
            raise ValueError("must be auto, float32 or bfloat16")
        return value

    @field_validator("answerer")
    @classmethod
    def _known_answerer(cls, value: str) -> str:
        if value not in ("extractive", "llm"):
            raise ValueError("must be extractive or llm")
        return value

    @model_validator(mode="after")
    def _llm_configured(self) -> Settings:
        if self.answerer == "llm" and not (self.llm_url or self.llm_gguf):
            raise ValueError(
                "NEWSDESK_ANSWERER=llm needs NEWSDESK_LLM_URL (an OpenAI-compatible server) or NEWSDESK_LLM_GGUF"
            )
        if self.llm_gguf is not None and not self.llm_gguf.is_file():
            raise ValueError(f"NEWSDESK_LLM_GGUF: no file at {self.llm_gguf}")
        return self

    def embedding(self) -> EmbeddingConfig:
        """The engine's embedding config."""
        return EmbeddingConfig(
            model=self.model,
            device=self.device,
            dtype=self.dtype,
            batch_size=self.batch_size,
            backend=self.embed_backend,
            quantize=self.quantize,
            onnx_cache=str(self.onnx_cache) if self.onnx_cache else None,
            threads=self.embed_threads,
            cache=str(self.embed_cache) if self.embed_cache else None,
        )

    def chunking(self) -> ChunkingConfig:
        """The engine's chunking config."""
        return ChunkingConfig(max_tokens=self.chunk_tokens, overlap_sentences=self.chunk_overlap)

    def search(self) -> SearchConfig:
        """The engine's search config."""
        return SearchConfig(
            k=self.k,
            mode=self.search_mode,
            rerank_depth=self.rerank_depth,
            time_words=self.time_words,
            window_weight=self.window_weight,
            recency_weight=self.recency_weight,
            recency_days=self.recency_days,
        )

    def vectors(self) -> VectorConfig:
        """The engine's vector store config."""
        return VectorConfig(
            backend=self.vector_backend,
            exact_max=self.vector_exact_max,
            ann=self.vector_ann,
            params={k: int(v) if float(v).is_integer() else v for k, v in self.vector_params.items()},
            threads=self.vector_threads,
            mmap=self.vector_mmap,
            milvus_uri=self.milvus_uri,
            milvus_token=self.milvus_token.get_secret_value() if self.milvus_token else "",
            milvus_collection=self.milvus_collection,
        )

    def answer(self) -> AnswerConfig:
        """The engine's answer config."""
        return AnswerConfig(
            max_sentences=self.max_sentences,
            min_confidence=self.min_confidence,
            ranker=None if self.ranker.strip().lower() in ("off", "none", "") else self.ranker.strip(),
            max_question_chars=self.max_question_chars,
        )

    def ingest(self) -> IngestConfig:
        """The engine's config for reading the seeds."""
        return IngestConfig(max_article_chars=self.max_article_chars)

    def llm(self) -> LLMConfig:
        """The engine's written-answer config."""
        return LLMConfig(
            answerer=self.answerer,
            url=self.llm_url,
            model=self.llm_model,
            api_key=self.llm_api_key.get_secret_value() if self.llm_api_key else "",
            gguf=str(self.llm_gguf) if self.llm_gguf else "",
            threads=self.llm_threads,
            context_tokens=self.llm_context,
            timeout=self.llm_timeout,
            connect_timeout=self.llm_connect_timeout,
            max_tokens=self.llm_max_tokens,
            temperature=self.llm_temperature,
            passages=self.llm_passages,
            support_threshold=self.llm_support_threshold,
            show_unverified=self.llm_show_unverified,
            mode=self.llm_mode,
        )

    def feeds(self) -> FeedsConfig:
        """The feed follower's config."""
        return FeedsConfig(
            interval=self.feeds_interval,
            max_backoff=self.feeds_max_backoff,
            connect_timeout=self.feeds_connect_timeout,
            read_timeout=self.feeds_timeout,
            total_timeout=self.feeds_total_timeout,
            max_bytes=self.feeds_max_bytes,
            max_redirects=self.feeds_max_redirects,
            host_delay=self.feeds_host_delay,
            host_connections=self.feeds_host_connections,
            workers=self.feeds_workers,
            fetch_pages=self.feeds_fetch_pages,
            page_attempts=self.feeds_page_attempts,
            contact=self.feeds_contact,
            user_agent=self.feeds_user_agent,
        )

    def engine_config(self, index_dir: Path | None = None) -> EngineConfig:
        """Everything the engine is made from (``index_dir`` overrides the setting, as ``--index`` does)."""
        return EngineConfig(
            index_dir=index_dir or self.index_dir,
            embedding=self.embedding(),
            chunking=self.chunking(),
            search=self.search(),
            answer=self.answer(),
            vectors=self.vectors(),
            ingest=self.ingest(),
            llm=self.llm(),
        )
