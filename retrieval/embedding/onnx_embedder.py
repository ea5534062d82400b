"""An ONNX Runtime embedder: the packaged model exported locally, int8-quantized, cached on disk.

The first use exports the sentence-transformers model's transformer with ``torch.onnx.export``
(no hub, no ``optimum``), fuses BERT attention with ONNX Runtime's transformer optimizer where the
model is BERT-like, and quantizes the weights to int8 with ``quantize_dynamic`` (per channel). The
result goes into ``<cache>/<model>-<precision>-<hash>/``, where the hash covers the model's files,
the recipe and the onnx/onnxruntime versions; the directory is written beside its final place and
renamed, so a crash leaves no half-written export. A kill mid-export leaves its temporary directory
behind (~200 MB); the export holds a lock on ``.tmp-….lock`` beside it while it runs, so every start
removes the temporary directories whose lock nobody holds (see :func:`clean_stale_exports`). Later
uses load it in well under a second and need neither torch nor sentence-transformers: ``tokenizers``
and ``onnxruntime`` only.

Pooling and normalisation follow the model's own sentence-transformers modules (``modules.json``,
``1_Pooling/config.json``): mean, CLS or max over the tokens, then L2 normalisation in float32.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.config import EmbeddingConfig
from retrieval.embedding.base import ProgressFn, batches_by_length, resolve_model_path
from retrieval.errors import ModelLoadError

if TYPE_CHECKING:
    from onnxruntime import InferenceSession
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

RECIPE = "newsdesk-onnx-2"
"""Bump when the export recipe changes: a new cache key, so old exports are not reused."""
PRECISIONS = ("int8", "float32")
MODEL_FILE = "model.onnx"
META_FILE = "export.json"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_KEY_FILES = ("config.json", "tokenizer.json", "modules.json", "sentence_bert_config.json")
_SAMPLE = [
    "The Port of Tallinn opened a new ferry terminal on Tuesday.",
    "Voters in Marlow elected Priya Raman as mayor on Sunday; turnout was 61 percent, "
    "the highest in a decade, and she promised to repair the sea wall before winter.",
    "Why won't Turkey sanction Russia?",
]
ONNX_BATCH = 8
"""Texts per ONNX Runtime call (at most): measured fastest on 2 cores when batches were sorted by
characters (int8 sentences: 4-8 about 250/s, 16 about 235/s, 32 about 200/s); sorted by token count,
8 to 32 measure alike (benchmarks/README.md, "News build: batches sorted by token count")."""
_MIN_AGREEMENT = {"float32": 0.9999, "int8": 0.95}
"""Cosine to the PyTorch model on a few sentences that a fresh export must reach, per precision."""


TMP_PREFIX = ".tmp-"
"""Temporary export directories in the cache start with this (``.tmp-<export>-<random>``)."""
LOCK_SUFFIX = ".lock"
"""Beside each temporary directory, the file its export holds a lock on while it runs."""
UNLOCKED_GRACE_SECONDS = 3600.0
"""A temporary directory without a lock file (left by a newsdesk from before the lock) is removed only
once nothing in it has changed for this long: its export cannot still be running."""


def _try_lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; False if another process holds one."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def _export_lock(tmp: Path) -> Iterator[None]:
    """Hold the lock that marks ``tmp`` as an export in progress; the lock file goes afterwards."""
    lock = tmp.with_name(tmp.name + LOCK_SUFFIX)
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        if not _try_lock(fd):  # a fresh random name: nobody else can hold it
            raise OSError(f"the export lock {lock} is taken")
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)


def _newest_change(directory: Path) -> float:
    """The latest modification time of ``directory`` or anything in it."""
    newest = directory.stat().st_mtime
    for root, dirs, files in os.walk(directory):
        for name in (*dirs, *files):
            with contextlib.suppress(OSError):
                newest = max(newest, os.stat(os.path.join(root, name), follow_symlinks=False).st_mtime)
    return newest


def clean_stale_exports(cache_dir: Path) -> int:
    """Remove the temporary export directories in ``cache_dir`` that no running export owns; their bytes.

    An export in progress holds a lock on ``<tmp>.lock``: a directory whose lock can be taken was
    left by a process that died mid-export (killed, out of memory, power cut) and is removed under
    that lock, so two starts never remove each other's work. One with no lock file at all (from an
    older newsdesk) goes once it has not changed for an hour.
    """
    try:
        entries = [e for e in cache_dir.iterdir() if e.name.startswith(TMP_PREFIX)]
    except OSError:
        return 0
    freed = 0
    for entry in entries:
        if entry.name.endswith(LOCK_SUFFIX):
            if not entry.with_name(entry.name.removesuffix(LOCK_SUFFIX)).exists():
                _remove_locked(entry, None)  # a lock file whose directory is gone
            continue
        if not entry.is_dir() or entry.is_symlink():
            continue
        lock = entry.with_name(entry.name + LOCK_SUFFIX)
        try:
            if lock.exists():
                freed += _remove_locked(lock, entry)
            elif time.time() - _newest_change(entry) > UNLOCKED_GRACE_SECONDS:
                size = _tree_size(entry)
                shutil.rmtree(entry, ignore_errors=True)
                freed += size
        except OSError as exc:
            log.debug("could not check the export leftover %s: %s", entry, exc)
    if freed:
        log.info("removed %.0f MB left in %s by an interrupted ONNX export", freed / 1e6, cache_dir)
    return freed


def _remove_locked(lock: Path, directory: Path | None) -> int:
    """Remove ``directory`` and its ``lock`` if no process holds the lock; the bytes freed."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return 0
    try:
        if not _try_lock(fd):
            return 0  # an export in progress
        size = 0
        if directory is not None:
            size = _tree_size(directory)
            shutil.rmtree(directory, ignore_errors=True)
        with contextlib.suppress(OSError):
            lock.unlink()
        return size
    finally:
        os.close(fd)


def _tree_size(directory: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name), follow_symlinks=False).st_size
    return total


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/newsdesk/onnx`` (``~/.cache/newsdesk/onnx``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newsdesk" / "onnx"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("onnx", "onnxruntime")}


def export_key(model_dir: Path, precision: str) -> str:
    """A short hash of what determines the export: model files, recipe, precision, ONNX versions."""
    digest = hashlib.sha256()
    digest.update(json.dumps([RECIPE, precision, _versions()], sort_keys=True).encode())
    for name in (*_WEIGHT_FILES, *_KEY_FILES, "1_Pooling/config.json"):
        path = model_dir / name
        if path.is_file():
            # Large weight files are keyed by size and a hash of their first and last MiB:
            # hashing 90 MB at every start would cost more than loading the export.
            digest.update(name.encode())
            size = path.stat().st_size
            digest.update(str(size).encode())
            with path.open("rb") as handle:
                digest.update(handle.read(1 << 20))
                if size > 2 << 20:
                    handle.seek(-(1 << 20), os.SEEK_END)
                    digest.update(handle.read())
    return digest.hexdigest()[:16]


def export_dir(model: str, model_dir: Path, precision: str, cache_dir: Path) -> Path:
    """Where the export of ``model`` at ``precision`` lives in ``cache_dir``."""
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in model.rstrip("/").split("/")[-1])
    return cache_dir / f"{slug}-{precision}-{export_key(model_dir, precision)}"


# -- the model's sentence-transformers modules ------------------------------------------------


def read_pooling(model_dir: Path) -> tuple[str, bool, int]:
    """(pooling mode, normalise, max_seq_length) from the model's sentence-transformers config."""
    modules_file = model_dir / "modules.json"
    modules = json.loads(modules_file.read_text(encoding="utf-8")) if modules_file.is_file() else []
    mode, normalize = "mean", False
    for module in modules:
        kind = str(module.get("type", ""))
        if kind.endswith("Pooling"):
            config = json.loads((model_dir / module["path"] / "config.json").read_text(encoding="utf-8"))
            mode = pooling_mode(config)
        elif kind.endswith("Normalize"):
            normalize = True
        elif kind and not kind.endswith("Transformer"):
            raise ModelLoadError(
                f"unsupported module {kind} for the ONNX backend (the torch backend runs it)", setting="embed_backend"
            )
    max_len = 512
    bert_config = model_dir / "sentence_bert_config.json"
    if bert_config.is_file():
        max_len = int(json.loads(bert_config.read_text(encoding="utf-8")).get("max_seq_length") or 512)
    return mode, normalize, max_len


LEGACY_POOLING = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean", "pooling_mode_max_tokens": "max"}
"""The pooling flags of sentence-transformers before 6 and the mode each names."""


def pooling_mode(config: dict[str, object]) -> str:
    """The one pooling mode ("cls", "mean" or "max") of a Pooling module's config: either
    sentence-transformers' ``pooling_mode`` (6 and later: a name or a list of names) or the older
    ``pooling_mode_*`` flags. Anything else is refused (the torch backend runs it)."""
    if "pooling_mode" in config:
        named = config["pooling_mode"]
        modes = list(named) if isinstance(named, list) else [named]
    else:
        flags = {k for k, v in config.items() if k.startswith("pooling_mode_") and v}
        modes = [LEGACY_POOLING.get(k, k) for k in sorted(flags)]
    if len(modes) != 1 or modes[0] not in LEGACY_POOLING.values():
        raise ModelLoadError(
            f"unsupported pooling {config} for the ONNX backend (the torch backend runs it)", setting="embed_backend"
        )
    return str(modes[0])


def pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """Token vectors (batch, tokens, dim) to unit sentence vectors, as sentence-transformers pools."""
    hidden = hidden.astype(np.float32, copy=False)
    if mode == "cls":
        vectors = hidden[:, 0]
    elif mode == "max":
        vectors = np.where(mask[..., None] > 0, hidden, -1e9).max(axis=1)
    else:
        weights = mask[..., None].astype(np.float32)
        vectors = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


# -- building the export -----------------------------------------------------------------------


def _export_float32(model_dir: Path, out: Path, max_len: int) -> tuple[list[str], np.ndarray, object]:
    """torch.onnx.export of the transformer (token embeddings out); returns input names, reference vectors."""
    import warnings

    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager", dtype=torch.float32).eval()
    encoded = tokenizer(_SAMPLE, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in encoded]

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(names, inputs, strict=True))).last_hidden_state

    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "token_embeddings"]}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = TokenEmbeddings(model)(*(encoded[n] for n in names)).float().numpy()
        torch.onnx.export(
            TokenEmbeddings(model),
            tuple(encoded[n] for n in names),
            str(out),
            input_names=names,
            output_names=["token_embeddings"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return names, pool(reference, encoded["attention_mask"].numpy(), "mean"), model.config


def fuse_attention(source: Path, out: Path, config: Any) -> bool:
    """ONNX Runtime's BERT fusions (attention, layer norm, GELU); False where they do not apply."""
    if getattr(config, "model_type", None) not in ("bert", "roberta", "xlm-roberta", "distilbert", "mpnet"):
        return False
    from onnxruntime.transformers.optimizer import optimize_model

    model_type = "bert" if config.model_type in ("roberta", "xlm-roberta", "mpnet") else config.model_type
    optimized = optimize_model(
        str(source),
        model_type=model_type,
        num_heads=int(config.num_attention_heads),
        hidden_size=int(config.hidden_size),
        opt_level=0,
    )
    fused = optimized.get_fused_operator_statistics()
    if not fused.get("Attention"):
        return False
    optimized.save_model_to_file(str(out))
    return True


def quantize_int8(source: Path, out: Path) -> None:
    """Dynamic int8: per-channel int8 weights, uint8 activations (VNNI/AMX kernels), full range."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=False,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def build_export(model_dir: Path, target: Path, precision: str, fuse: bool = True) -> None:
    """Export, fuse, quantize and check into a temporary directory, then rename it to ``target``."""
    if precision not in PRECISIONS:
        raise ModelLoadError(f"unknown ONNX precision '{precision}' (use int8 or float32)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f"{TMP_PREFIX}{target.name}-{uuid.uuid4().hex[:8]}"
    with _export_lock(tmp):  # held until the export is in place or removed: see clean_stale_exports
        _build_export_in(model_dir, target, tmp, precision, fuse)


def _build_export_in(model_dir: Path, target: Path, tmp: Path, precision: str, fuse: bool) -> None:
    """``build_export`` inside ``tmp`` (whose lock the caller holds)."""
    import logging as _logging

    tmp.mkdir()
    started = time.perf_counter()
    quiet = _logging.getLogger()  # the quantizer logs a pre-processing hint at WARNING on the root
    level = quiet.level
    try:
        quiet.setLevel(_logging.ERROR)
        mode, _normalize, max_len = read_pooling(model_dir)
        work = tmp / "work"
        work.mkdir()
        names, reference, config = _export_float32(model_dir, work / "float32.onnx", max_len)
        graph = work / "float32.onnx"
        fused = fuse and fuse_attention(graph, work / "fused.onnx", config)
        if fused:
            graph = work / "fused.onnx"
        if precision == "int8":
            quantize_int8(graph, tmp / MODEL_FILE)
        else:
            shutil.copyfile(graph, tmp / MODEL_FILE)
            for extra in work.glob("*.data"):
                shutil.copyfile(extra, tmp / extra.name)
        shutil.rmtree(work)
        meta = {
            "recipe": RECIPE,
            "precision": precision,
            "fused": fused,
            "inputs": names,
            "pooling": mode,
            "max_seq_length": max_len,
            "versions": _versions(),
            "files": {p.name: _sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()},
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        # A fresh export must agree with the PyTorch model it came from.
        session = _session(tmp / MODEL_FILE, threads=0)
        tokenizer = _tokenizer(model_dir, max_len)
        got = _run(session, tokenizer, names, mode, _SAMPLE)
        agreement = float(np.min(np.sum(got * reference, axis=1)))
        if agreement < _MIN_AGREEMENT[precision]:
            raise ModelLoadError(f"the {precision} export disagrees with the model (cosine {agreement:.4f})")
        for path in tmp.iterdir():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        try:
            tmp.rename(target)
        except OSError:
            if not (target / META_FILE).is_file():  # not a concurrent build that won the race
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        quiet.setLevel(level)
    log.info(
        "built the ONNX %s export of %s in %.1fs (fused attention: %s, cosine to torch >= %.4f): %s",
        precision,
        model_dir,
        time.perf_counter() - started,
        fused,
        agreement,
        target,
    )


def verify_export(directory: Path) -> dict[str, object]:
    """The export's metadata, after checking every file against its recorded hash (ValueError if not)."""
    meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    files = meta.get("files")
    if not isinstance(files, dict) or MODEL_FILE not in files:
        raise ValueError("no file list")
    for name, digest in files.items():
        path = directory / name
        if not path.is_file() or _sha256(path) != digest:
            raise ValueError(f"{name} is missing or altered")
    return meta


# -- running it -----------------------------------------------------------------------------------


def _listed(value: object) -> list[object]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list, found {type(value).__name__}")
    return value


def _session(path: Path, threads: int, spinning: bool = False) -> InferenceSession:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads  # 0: one per physical core
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle worker threads sleep instead of spinning, like OMP_WAIT_POLICY=PASSIVE for torch.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _tokenizer(model_dir: Path, max_len: int) -> Tokenizer:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_len)
    pad_token = "[PAD]"
    special = model_dir / "special_tokens_map.json"
    if special.is_file():
        value = json.loads(special.read_text(encoding="utf-8")).get("pad_token", pad_token)
        pad_token = value.get("content", pad_token) if isinstance(value, dict) else str(value)
    pad_id = tokenizer.token_to_id(pad_token)
    tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token=pad_token)
    return tokenizer


def _run(
    session: InferenceSession, tokenizer: Tokenizer, names: Sequence[str], mode: str, texts: Sequence[str]
) -> np.ndarray:
    encodings = tokenizer.encode_batch(list(texts))
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in names:
        feeds["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
    hidden = np.asarray(session.run(None, {n: feeds[n] for n in names})[0])
    return pool(hidden, mask, mode)


class OnnxEmbedder:
    """The Embedder protocol on ONNX Runtime: an int8 (or float32) export of a sentence-transformers model."""

    backend = "onnx"

    def __init__(self, config: EmbeddingConfig) -> None:
        self.config = config
        self.name = config.model
        self.precision = config.quantize if config.quantize != "none" else "float32"
        if self.precision not in PRECISIONS:
            raise ModelLoadError(f"unknown quantization '{config.quantize}' (use int8 or none)", setting="quantize")
        model_dir = Path(resolve_model_path(config.model))
        if not (model_dir / "tokenizer.json").is_file():
            raise ModelLoadError(
                f"cannot load embedding model '{config.model}' for ONNX: no local directory with a "
                "tokenizer.json (the ONNX backend needs a local model with a fast tokenizer)"
            )
        cache = Path(config.onnx_cache).expanduser() if config.onnx_cache else default_cache_dir()
        try:
            clean_stale_exports(cache)
            self.export_path = export_dir(config.model, model_dir, self.precision, cache)
            meta = self._load_or_build(model_dir, self.export_path)
            self._names = [str(n) for n in _listed(meta["inputs"])]
            self._mode = str(meta["pooling"])
            self.max_tokens = int(str(meta["max_seq_length"]))
            self._session = _session(self.export_path / MODEL_FILE, config.threads)
            self._tokenizer = _tokenizer(model_dir, self.max_tokens)
            self._counter = _tokenizer(model_dir, self.max_tokens)
            self._counter.no_truncation()
            self._counter.no_padding()
            self.dimension = int(self._run(["dimension probe"]).shape[1])
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(
                f"cannot build or load the ONNX export of '{config.model}' in {cache}: {_first_line(exc)} "
                "(the torch backend avoids ONNX)",
                setting="embed_backend",
            ) from exc
        self.info = {"backend": "onnx", "precision": self.precision}
        log.info(
            "loaded ONNX model %s (%s, %s, dim %d)", config.model, self.export_path, self.precision, self.dimension
        )

    def _load_or_build(self, model_dir: Path, directory: Path) -> dict[str, object]:
        if directory.exists():
            try:
                return verify_export(directory)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("the cached ONNX export %s is damaged (%s): building it again", directory, _first_line(exc))
                shutil.rmtree(directory, ignore_errors=True)
        log.warning("building the ONNX %s export of %s (once; cached in %s)", self.precision, self.name, directory)
        build_export(model_dir, directory, self.precision)
        return verify_export(directory)

    def _run(self, texts: Sequence[str]) -> np.ndarray:
        return _run(self._session, self._tokenizer, self._names, self._mode, texts)

    def encode(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        """Embed in batches sorted by token count (longest first), so little is padding."""
        texts = list(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        size = min(self.config.batch_size, ONNX_BATCH)
        for ids in batches_by_length(self.count_tokens(texts), size):
            out[ids] = self._run([texts[i] for i in ids])
            if progress is not None:
                progress(len(ids))
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts from the model's own fast tokenizer, without special tokens or truncation."""
        if not texts:
            return []
        encodings = self._counter.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]
