"""The ONNX Runtime backend: a real export + int8 quantization of the packaged model, in a tmp cache."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from retrieval.config import EmbeddingConfig
from retrieval.embedding import auto as auto_module
from retrieval.embedding import onnx_embedder as onnx_embedding
from retrieval.embedding.auto import AutoEmbedder
from retrieval.embedding.base import Embedder, embedding_info
from retrieval.embedding.factory import make_embedder
from retrieval.embedding.onnx_embedder import META_FILE, MODEL_FILE, OnnxEmbedder
from retrieval.engine import Engine
from retrieval.errors import ModelLoadError
from retrieval.index.store import IndexStore
from tests.conftest import write_articles

pytestmark = pytest.mark.model

TEXTS = [
    "NATO's chief urged allies to impose sanctions on Russia.",
    "The alliance's head called for sanctions.",
    "The recipe needs two eggs and flour.",
    "Port of Tallinn opens new ferry terminal\nThe terminal cost 40 million euros and will handle "
    "two million passengers a year. " * 12,  # longer than the model's 256 tokens: truncated alike
    "x",
]


def onnx_config(cache: Path, **changes: object) -> EmbeddingConfig:
    settings: dict[str, object] = {"backend": "onnx", "quantize": "int8", "onnx_cache": str(cache), **changes}
    return EmbeddingConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def onnx_embedder(onnx_cache: Path) -> OnnxEmbedder:
    """The packaged model exported and quantized once for this module (about 10-20 s)."""
    embedder = make_embedder(onnx_config(onnx_cache))
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


def test_export_agrees_with_the_torch_model(onnx_embedder: OnnxEmbedder, real_embedder: Embedder) -> None:
    assert isinstance(onnx_embedder, Embedder)
    assert (onnx_embedder.dimension, onnx_embedder.max_tokens) == (384, 256)
    assert embedding_info(onnx_embedder) == {"backend": "onnx", "precision": "int8"}
    meta = json.loads((onnx_embedder.export_path / META_FILE).read_text())
    assert meta["precision"] == "int8" and meta["pooling"] == "mean"
    assert onnx_embedder.export_path.name.startswith("all-MiniLM-L6-v2-int8-")
    vectors = onnx_embedder.encode(TEXTS)
    reference = real_embedder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    agreement = np.sum(vectors * reference, axis=1)
    assert agreement.min() > 0.97 and agreement.mean() > 0.985, agreement
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    # the same order either way: length-sorted batches put every vector back in its place
    assert np.allclose(onnx_embedder.encode(TEXTS[::-1])[::-1], vectors, atol=1e-5)
    assert onnx_embedder.encode([]).shape == (0, 384)
    assert onnx_embedder.count_tokens(TEXTS) == real_embedder.count_tokens(TEXTS)
    assert onnx_embedder.count_tokens([]) == []


def test_progress_reports_every_text(onnx_embedder: OnnxEmbedder) -> None:
    done: list[int] = []
    onnx_embedder.encode(TEXTS[:3] * 30, progress=done.append)
    assert sum(done) == 90 and len(done) == 12  # batches of 8


def test_cached_export_is_reused(
    onnx_embedder: OnnxEmbedder, onnx_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_build(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the cached export should have been reused")

    monkeypatch.setattr(onnx_embedding, "build_export", no_build)
    again = OnnxEmbedder(onnx_config(onnx_cache))
    assert again.export_path == onnx_embedder.export_path
    assert [p.name for p in onnx_cache.iterdir()] == [onnx_embedder.export_path.name]
    assert np.allclose(again.encode(TEXTS[:2]), onnx_embedder.encode(TEXTS[:2]), atol=1e-6)


def test_failed_export_leaves_no_half_written_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_export(model_dir: Path, out: Path, max_len: int) -> None:
        out.write_bytes(b"half an onnx file")
        raise RuntimeError("exporter exploded\nwith a long traceback")

    monkeypatch.setattr(onnx_embedding, "_export_float32", broken_export)
    cache = tmp_path / "cache"
    with pytest.raises(ModelLoadError) as failure:
        OnnxEmbedder(onnx_config(cache))
    message = str(failure.value)
    assert "\n" not in message and "exporter exploded" in message and "torch backend" in message
    assert list(cache.iterdir()) == []  # neither the temporary directory nor a target


def _copy_from(good: Path, calls: list[Path]):  # noqa: ANN202
    def build(_model_dir: Path, target: Path, _precision: str) -> None:
        calls.append(target)
        shutil.copytree(good, target)

    return build


def test_corrupt_cached_file_is_rebuilt(
    onnx_embedder: OnnxEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    target = cache / onnx_embedder.export_path.name
    shutil.copytree(onnx_embedder.export_path, target)
    with (target / MODEL_FILE).open("r+b") as handle:  # a torn write: the file is cut short
        handle.truncate(1000)
    calls: list[Path] = []
    monkeypatch.setattr(onnx_embedding, "build_export", _copy_from(onnx_embedder.export_path, calls))
    with caplog.at_level(logging.WARNING, logger="retrieval.embedding.onnx_embedder"):
        rebuilt = OnnxEmbedder(onnx_config(cache))
    assert calls == [target]
    assert "damaged" in caplog.text
    assert np.allclose(rebuilt.encode(TEXTS[:1]), onnx_embedder.encode(TEXTS[:1]), atol=1e-6)


def test_unusable_export_is_a_one_line_error(
    onnx_embedder: OnnxEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bad_build(_model_dir: Path, target: Path, _precision: str) -> None:
        target.mkdir(parents=True)
        (target / META_FILE).write_text("{not json")

    monkeypatch.setattr(onnx_embedding, "build_export", bad_build)
    with pytest.raises(ModelLoadError, match=r"cannot build or load the ONNX export") as failure:
        OnnxEmbedder(onnx_config(tmp_path / "cache"))
    assert "\n" not in str(failure.value)


def test_bad_backend_and_precision_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="unknown embedding backend 'tensorflow'"):
        make_embedder(EmbeddingConfig(backend="tensorflow"))
    with pytest.raises(ModelLoadError, match="unknown quantization 'int4'"):
        OnnxEmbedder(onnx_config(tmp_path, quantize="int4"))
    with pytest.raises(ModelLoadError, match="no local directory with a tokenizer.json"):
        OnnxEmbedder(onnx_config(tmp_path, model="no-such/model-xyz"))


def test_settings_select_the_backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pydantic import ValidationError

    from bot.settings import Settings

    monkeypatch.setenv("NEWSDESK_EMBED_BACKEND", "onnx")
    monkeypatch.setenv("NEWSDESK_QUANTIZE", "none")
    monkeypatch.setenv("NEWSDESK_ONNX_CACHE", str(tmp_path))
    monkeypatch.setenv("NEWSDESK_EMBED_THREADS", "1")
    config = Settings(_env_file=None).embedding
    assert (config.backend, config.quantize, config.onnx_cache, config.threads) == ("onnx", "none", str(tmp_path), 1)
    monkeypatch.setenv("NEWSDESK_EMBED_BACKEND", "tensorflow")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


def test_an_index_from_one_backend_serves_the_other(
    onnx_embedder: OnnxEmbedder, real_embedder: Embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seeds = write_articles(tmp_path / "seeds")
    store = IndexStore(tmp_path / "index")
    Engine(store, onnx_embedder).build(seeds, full=True)
    assert store.read_manifest().embedding == {"backend": "onnx", "precision": "int8"}

    torch_engine = Engine(IndexStore(tmp_path / "index"), real_embedder)
    with caplog.at_level(logging.INFO, logger="retrieval.index.store"):
        hits = torch_engine.search("How much did the new ferry terminal in Tallinn cost?")
    assert "embedded with onnx/int8" in caplog.text
    assert hits and hits[0].passage.article_id == "harbour.txt"

    write_articles(
        seeds,
        {
            "later.jsonl": '{"id": "later", "title": "Bridge reopens", "text": "The old bridge '
            'reopened on Friday after two years of repairs."}\n'
        },
    )
    torch_engine.build(seeds)  # incremental: keeps the ONNX vectors, adds torch ones
    record = store.read_manifest().embedding
    assert record["mixed"] == "true" and record["backend"] == embedding_info(real_embedder)["backend"]


def test_auto_uses_onnx_for_questions_and_torch_for_bulk(
    onnx_embedder: OnnxEmbedder, real_embedder: Embedder, onnx_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auto = AutoEmbedder(onnx_config(onnx_cache, backend="auto"), onnx=onnx_embedder)
    assert isinstance(auto, Embedder) and (auto.name, auto.dimension) == (onnx_embedder.name, 384)
    auto.use_bulk, auto._bulk = True, real_embedder  # as on a CPU with native bf16, model already loaded
    monkeypatch.setattr(auto_module, "BULK_TEXTS", 4)
    assert np.allclose(auto.encode(TEXTS[:1]), onnx_embedder.encode(TEXTS[:1]), atol=1e-6)
    assert auto.info == {"backend": "onnx", "precision": "int8"}
    assert np.allclose(auto.encode(TEXTS), real_embedder.encode(TEXTS), atol=1e-6)
    assert auto.info == embedding_info(real_embedder) and auto.info["backend"] == "torch"
    auto.use_bulk = False  # a CPU without native bf16: ONNX throughout
    assert np.allclose(auto.encode(TEXTS), onnx_embedder.encode(TEXTS), atol=1e-6)
    assert auto.count_tokens(TEXTS) == real_embedder.count_tokens(TEXTS)


def test_auto_falls_back_to_torch_for_a_model_it_cannot_export() -> None:
    with pytest.raises(ModelLoadError, match="cannot load embedding model 'no-such/model-xyz'"):
        make_embedder(EmbeddingConfig(backend="auto", model="no-such/model-xyz"))


@pytest.mark.parametrize(
    ("config", "mode"),
    [
        ({"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}, "mean"),
        ({"pooling_mode_cls_token": True}, "cls"),
        ({"embedding_dimension": 384, "pooling_mode": "max", "include_prompt": True}, "max"),
        ({"pooling_mode": ["mean"]}, "mean"),
    ],
)
def test_pooling_reads_both_config_formats(config: dict[str, object], mode: str) -> None:
    assert onnx_embedding.pooling_mode(config) == mode


@pytest.mark.parametrize(
    "config",
    [
        {"pooling_mode": "weightedmean"},
        {"pooling_mode": ["mean", "max"]},
        {"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True},
        {"pooling_mode_mean_sqrt_len_tokens": True},
    ],
)
def test_pooling_the_onnx_path_cannot_run_is_refused(config: dict[str, object]) -> None:
    with pytest.raises(ModelLoadError, match="the torch backend runs it"):
        onnx_embedding.pooling_mode(config)


def test_a_model_saved_by_todays_sentence_transformers_keeps_the_onnx_path(tmp_path: Path) -> None:
    # sentence-transformers 6 writes {"pooling_mode": "cls", ...}; before, only the pooling_mode_* flags were read
    # and such a model's questions fell back to PyTorch.
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(Pooling(384, pooling_mode="cls").get_config_dict()))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": f"{Pooling.__module__}.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": f"{Normalize.__module__}.Normalize"},
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    assert onnx_embedding.read_pooling(tmp_path) == ("cls", True, 512)
