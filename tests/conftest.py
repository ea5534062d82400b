"""Shared fixtures: tiny articles, a deterministic embedder, and an index built in tmp_path."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from retrieval.config import AnswerConfig, ChunkingConfig, SearchConfig, VectorConfig
from retrieval.engine import Engine
from retrieval.index.store import IndexStore

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
MODEL_FIXTURES = frozenset({"real_embedder", "seeds_engine", "onnx_embedder", "onnx_cache"})
"""Fixtures that load the real embedding model: a test using one is marked ``model`` automatically."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a real-model fixture with ``model``."""
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A HOME (and XDG cache) of the test session's own: exports and history never touch the developer's."""
    home = tmp_path_factory.mktemp("home")
    (home / ".cache").mkdir()
    return home


@pytest.fixture(autouse=True)
def hermetic(
    request: pytest.FixtureRequest, tmp_path: Path, session_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No NEWSDESK_* variable, no .env and no cache from outside the test; real models only where marked."""
    import os

    for name in [n for n in os.environ if n.startswith("NEWSDESK_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(session_home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(session_home / ".cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(session_home / ".local" / "state"))  # the CLI's crash log
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    if request.node.get_closest_marker("model") is None:
        from retrieval.answer.reader import SpacyTagger
        from retrieval.embedding.onnx_embedder import OnnxEmbedder
        from retrieval.embedding.sentence_transformer import SentenceTransformerEmbedder

        def refuse(self: object, *args: object, **kwargs: object) -> None:
            raise AssertionError("this test loads the real model: mark it @pytest.mark.model")

        monkeypatch.setattr(SentenceTransformerEmbedder, "__init__", refuse)
        monkeypatch.setattr(OnnxEmbedder, "__init__", refuse)
        monkeypatch.setattr(SpacyTagger, "load", refuse)


_TOKEN = re.compile(r"\w+")
_STOP_WORDS = (
    "a an and are as at be by did do for from had has he in is it its of on or said she that the their they "
    "this to was were what when where which who why will with how many much"
)
_STOP = frozenset(_STOP_WORDS.split())


class HashEmbedder:
    """Deterministic bag-of-words vectors (hashed, signed), L2-normalised: similar words, similar vectors."""

    def __init__(self, dimension: int = 256, name: str = "test/hash-embedder") -> None:
        self.name = name
        self.dimension = dimension
        self.max_tokens = 256
        self.encoded = 0

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        for token in _TOKEN.findall(text.lower()):
            if token in _STOP:
                continue
            digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
            slot = int.from_bytes(digest[:4], "little") % self.dimension
            vector[slot] += 1.0 if digest[4] & 1 else -1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def encode(self, texts: Sequence[str], progress=None) -> np.ndarray:  # noqa: ANN001
        self.encoded += len(texts)
        out = np.vstack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)
        if progress is not None and texts:
            progress(len(texts))
        return out.astype(np.float32)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_TOKEN.findall(t)) for t in texts]


ARTICLES = {
    "harbour.txt": (
        " date 2023-05-02 Port of Tallinn opens new ferry terminal\n\n"
        "The Port of Tallinn opened a new ferry terminal on Tuesday. The terminal cost 40 million euros "
        "and will handle two million passengers a year. Harbour master Liis Kask said the old building "
        "was too small for modern ships.\n\nThe first ferry to use the terminal arrived from Helsinki."
    ),
    "election.md": (
        "---\ntitle: Coastal town elects new mayor\ndate: 2023-06-15\nurl: https://example.org/mayor\n"
        "source: Example Gazette\n---\n"
        "Voters in Marlow elected Priya Raman as mayor on Sunday. Raman won 54 percent of the vote. "
        "She promised to repair the sea wall before winter.\n\nTurnout was 61 percent, the highest in a decade."
    ),
    "wildlife.html": (
        "<html><head><title>Wolves return to the valley</title></head><body>"
        "<nav>Home | News | Sport</nav><article><h1>Wolves return to the valley</h1>"
        "<p>Wolves have returned to the Oder valley for the first time in a century, rangers said on Monday.</p>"
        "<p>A pack of six animals was filmed by a trail camera near the river. Farmers asked for "
        "compensation for lost sheep, and the regional government agreed to pay it.</p></article>"
        "<footer>Copyright 2023 Valley News</footer></body></html>"
    ),
    "wire.jsonl": (
        '{"id": "wire-1", "title": "Central bank holds rates", "date": "2023-07-20", '
        '"url": "https://example.com/rates", "source": "Wire", "text": "The central bank held interest '
        'rates at 4 percent on Thursday. The governor said inflation was falling faster than expected."}\n'
        '{"id": "wire-2", "title": "Storm closes airport", "date": "2023-08-01", "source": "Wire", '
        '"text": "A storm closed the city airport for six hours on Tuesday. More than 200 flights were '
        'cancelled and thousands of travellers were stranded."}\n'
    ),
}


def write_articles(directory: Path, articles: dict[str, str] = ARTICLES) -> Path:
    """Write article files into ``directory`` and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in articles.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text, encoding="utf-8")
    return directory


@pytest.fixture
def seeds_dir(tmp_path: Path) -> Path:
    """A seeds directory with one article of each supported format."""
    return write_articles(tmp_path / "seeds")


@pytest.fixture
def embedder() -> HashEmbedder:
    """A fresh deterministic embedder."""
    return HashEmbedder()


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One Milvus Lite database for the session (it starts once, in-process); tests use own collections."""
    pytest.importorskip("pymilvus")
    return str(tmp_path_factory.mktemp("milvus") / "milvus.db")


@pytest.fixture(params=["faiss", "milvus"])
def vector_config(request: pytest.FixtureRequest) -> VectorConfig:
    """Each vector backend in turn: FAISS in process, and Milvus (Milvus Lite, for real)."""
    if request.param == "milvus":
        uri = request.getfixturevalue("milvus_uri")
        return VectorConfig(backend="milvus", milvus_uri=uri, milvus_collection=f"t{uuid.uuid4().hex[:8]}")
    return VectorConfig()


def make_engine(
    index_dir: Path,
    embedder: HashEmbedder,
    vectors: VectorConfig | None = None,
    search: SearchConfig | None = None,
    **answer: object,
) -> Engine:
    """An engine over ``index_dir`` with small chunks, so articles span several passages.

    ``vectors`` picks the vector backend (default: FAISS). The abstention threshold is lower than the
    default, which is calibrated for MiniLM's cosines.
    """
    answer.setdefault("min_confidence", 0.3)
    answer.setdefault("ranker", None)  # the ranker was fitted on MiniLM cosines, not the hash embedder's
    return Engine(
        IndexStore(index_dir, vectors),
        embedder,
        search=search or SearchConfig(k=5),
        answer=AnswerConfig(**answer),  # type: ignore[arg-type]
        chunking=ChunkingConfig(max_tokens=40, overlap_sentences=1),
    )


@pytest.fixture
def engine(tmp_path: Path, seeds_dir: Path, embedder: HashEmbedder, vector_config: VectorConfig) -> Engine:
    """An engine with the tiny articles indexed in tmp_path, on each vector backend."""
    built = make_engine(tmp_path / "index", embedder, vector_config)
    built.build(seeds_dir, full=True)
    return built


@pytest.fixture(scope="session")
def real_embedder():  # noqa: ANN201
    """The packaged all-MiniLM-L6-v2, loaded once per test session, offline."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from retrieval.config import EmbeddingConfig
    from retrieval.embedding.sentence_transformer import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(EmbeddingConfig())


@pytest.fixture(scope="session")
def seeds_engine(real_embedder, tmp_path_factory: pytest.TempPathFactory) -> Engine:  # noqa: ANN001
    """The real model over the real seeds, with the default settings."""
    engine = Engine(IndexStore(tmp_path_factory.mktemp("seeds-index")), real_embedder)
    engine.build(SEEDS, full=True)
    return engine


@pytest.fixture
def files_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The seed files ingest reads from disk (relative paths, in order), recorded while the test runs."""
    import retrieval.ingest.files

    read: list[str] = []
    real = retrieval.ingest.files._read_file

    def recording(path: Path, rel: str, suffix: str, *args: object):  # noqa: ANN202
        read.append(rel)
        return real(path, rel, suffix, *args)

    monkeypatch.setattr(retrieval.ingest.files, "_read_file", recording)
    return read
