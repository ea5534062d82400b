"""Plain configuration objects the engine takes; the fronts fill them from their settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class EmbeddingConfig:
    """Which sentence-transformers model to load and how."""

    model: str = DEFAULT_MODEL
    device: str = "cpu"
    dtype: str = "auto"
    """``auto`` (bfloat16 where the CPU has native bf16, else float32), ``float32`` or ``bfloat16``."""
    batch_size: int = 32
    offline: bool = True
    backend: str = "auto"
    """``auto`` (ONNX int8 for questions, PyTorch bf16 for bulk where the CPU has native bf16),
    ``torch`` (sentence-transformers on PyTorch) or ``onnx`` (ONNX Runtime on a local export)."""
    quantize: str = "int8"
    """ONNX only: ``int8`` (dynamic quantization) or ``none`` (float32)."""
    onnx_cache: str | None = None
    """ONNX only: where exports are cached (default ``~/.cache/newsdesk/onnx``)."""
    threads: int = 0
    """ONNX only: intra-op threads (0: one per physical core)."""
    cache: str | None = None
    """A SQLite file of vectors already computed by this model (see ``retrieval.embedding.cache``); None: off."""


@dataclass(frozen=True)
class IngestConfig:
    """How seed files are read."""

    max_article_chars: int = 200_000
    """A longer article is cut after its last sentence end before this many characters, with a
    warning naming its file (news articles run to 5-60k; every article of both news benchmarks fits)."""


@dataclass(frozen=True)
class ChunkingConfig:
    """How articles are cut into passages. Token counts use the model's own tokenizer."""

    max_tokens: int = 200
    overlap_sentences: int = 1
    language: str = "en"


@dataclass(frozen=True)
class SearchConfig:
    """How passages are retrieved and fused."""

    k: int = 5
    mode: str = "hybrid"
    """``hybrid`` (dense + BM25 fused), ``dense`` or ``lexical``."""
    candidates: int = 50
    fusion: str = "convex"
    """``convex`` (a weighted sum of min-max-normalised scores) or ``rrf`` (reciprocal rank)."""
    dense_weight: float = 0.6
    """Share of the dense score in convex fusion; BM25 gets the rest."""
    rrf_k: int = 60
    duplicate_overlap: float = 0.6
    """Share of shared word 5-grams above which a passage is a near-duplicate of a better one."""
    rerank_depth: int = 20
    """How many fused passages are re-ranked by their best sentence's score as an answer (all ``k``
    when ``k`` is larger; 0: none, the fused order stands)."""
    time_words: str = "prior"
    """What a question's time words ("this week", "in March") do: ``prior`` (passages from those dates
    are searched too and score ``window_weight`` more), ``strict`` (only those dates are searched) or
    ``off``."""
    window_weight: float = 0.1
    """Added to the score of a passage inside the question's time-word window (``prior`` mode)."""
    recency_weight: float = 0.0
    """With an as-of date and no time words: added to a passage's score, times ``exp(-age / recency_days)``."""
    recency_days: float = 30.0


@dataclass(frozen=True)
class AnswerConfig:
    """How the extractive answerer composes and when it abstains."""

    max_sentences: int = 2
    min_confidence: float | None = None
    """Abstain below this confidence; None: the threshold fitted with the ranker (or 0.35 without one)."""
    max_question_chars: int = 500
    ranker: str | None = "default"
    """The learned ranker's directory (``default``: ``models/newsdesk-ranker``, fitted on news_train_2024);
    None: the hand-weighted sentence score and its confidence."""


@dataclass(frozen=True)
class VectorConfig:
    """Where the unit vectors live and how they are searched."""

    backend: str = "faiss"
    """``faiss`` (in this process) or ``milvus`` (a Milvus cluster, or Milvus Lite from a local file)."""
    exact_max: int = 50_000
    """Exact (flat) search up to this many vectors; above it an approximate index trained on them."""
    ann: str = "hnsw"
    """FAISS's approximate index: ``hnsw`` (HNSW over 8-bit codes) or ``ivf`` (IVF over 8-bit codes)."""
    params: dict[str, Any] = field(default_factory=dict)
    """Overrides of the approximate index's parameters (``M``, ``ef_search``, ``nlist``, ``nprobe``…)."""
    threads: int = 1
    """FAISS threads for one query (one is faster than two for single queries, see the benchmark)."""
    mmap: bool = True
    """Memory-map FAISS index files where the index type allows it."""
    milvus_uri: str = ""
    """``http://host:19530`` for a cluster, or a local ``….db`` path for Milvus Lite; empty: in the index dir."""
    milvus_token: str = field(default="", repr=False)
    milvus_collection: str = "newsdesk"
    """Prefix of the collection names (one collection per index generation)."""


@dataclass(frozen=True)
class LLMConfig:
    """Written answers (``answerer="llm"``): which language model writes them and how they are checked.

    The model is an OpenAI-compatible server at ``url`` (Ollama, llama.cpp's server, vLLM, LM Studio,
    OpenAI…) or a local GGUF file run in this process (``gguf``, through llama-cpp-python). Every
    written sentence is verified against the passage it cites before it is shown
    (``retrieval.answer.verify``); when none survives, the answer is the extractive one.
    """

    answerer: str = "extractive"
    """``extractive`` (quoted sentences, no model) or ``llm`` (verified written sentences)."""
    url: str = ""
    """Base URL of an OpenAI-compatible API, e.g. ``http://127.0.0.1:11434/v1`` (Ollama)."""
    model: str = ""
    """The model name the server knows; empty: the first one the server lists."""
    api_key: str = field(default="", repr=False)
    gguf: str = ""
    """Path of a GGUF model to run in this process instead of a server (needs xllamacpp)."""
    threads: int = 1
    """GGUF only: CPU threads for generation and for reading the prompt."""
    context_tokens: int = 4096
    """GGUF only: the context window the model is loaded with."""
    timeout: float = 30.0
    """Seconds the whole written answer may take (connect, read the prompt, write) before the
    extractive answer is given instead."""
    connect_timeout: float = 3.0
    """Seconds to reach the server."""
    max_tokens: int = 160
    temperature: float = 0.0
    passages: int = 5
    """How many of the retrieved passages the model reads (numbered [1]… in the prompt)."""
    passage_chars: int = 1200
    """Each passage is cut to this many characters (on a sentence boundary) in the prompt."""
    support_threshold: float | None = None
    """The support score a sentence needs (None: the scorer's fitted default)."""
    show_unverified: bool = False
    mode: str = "quote"
    """``quote``: the model picks the sentence that answers and copies the short answer from it, and
    only quotes are shown; ``write``: it writes 1-2 sentences, each shown only when ONE given
    sentence states it (``SentenceVerifier``). See docs/written-answers.md."""
    sentences: int = 6
    """How many of the best sentences the model reads (numbered [1]… in the prompt)."""
    """Keep sentences that failed verification in the answer, marked ``verified=False`` (never by default)."""


@dataclass(frozen=True)
class EngineConfig:
    """Everything an engine is made from: where its index lives and how it embeds, chunks, searches, answers."""

    index_dir: Path = Path("index")
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    answer: AnswerConfig = field(default_factory=AnswerConfig)
    vectors: VectorConfig = field(default_factory=VectorConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
