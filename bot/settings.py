"""Every setting newsdesk reads: NEWSDESK_* environment variables or a .env file, one section per concern.

Each setting is declared once, as a field of its section's class: the engine's sections are its own
config dataclasses (``retrieval/config.py``: type, bounds, default, docstring), the fronts' are the
models below. A field's variable is ``NEWSDESK_`` + the section's prefix + the field's name, upper-cased,
unless the section names it otherwise (the names users already have). ``Settings`` reads the variables,
validates each section with pydantic, and hands the engine its dataclasses as they are.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import inspect
import json
import textwrap
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Le
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from retrieval.config import (
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

PREFIX = "NEWSDESK_"
NONE_WORDS = ("", "none", "off")
"""For a setting that may be unset (``None``), these values (in any case) unset it."""


def _not_empty(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty (an empty path would mean the current directory)")
    return value


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


APath = Annotated[Path, BeforeValidator(_not_empty)]
"""A path that must be given (an empty one would mean the current directory)."""


class _Section(BaseModel):
    """A section of the fronts' own settings: frozen, documented by its fields' docstrings."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True, extra="forbid")


class General(_Section):
    """Where things are, and how much is logged."""

    index_dir: APath = Path("index")
    """Index directory (built by `newsdesk index`)."""
    seeds_dir: APath = Path("seeds")
    """Articles to index: .txt, .md (YAML front matter: title, date, url, source), .html, .jsonl."""
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)] = "WARNING"
    """How much is logged on stderr, in any case (`-v` and `-vv` raise it to INFO and DEBUG)."""


class Discord(_Section):
    """`newsdesk bot`: the Discord bot."""

    token: SecretStr | None = None
    """The bot's token (from the Discord developer portal); only `newsdesk bot` needs it."""
    guild_id: int | None = None
    """A server (guild) id: slash commands sync to it at once (empty: globally, which can take an hour)."""
    channels: list[int] = Field(default_factory=list)
    """Channel ids the bot answers in, separated by commas or spaces (empty: every channel it can see)."""
    cooldown_questions: Annotated[int, Ge(1)] = 4
    """Questions one user may ask per NEWSDESK_COOLDOWN_SECONDS."""
    cooldown_seconds: Annotated[float, Gt(0)] = 60.0
    """The window of the per-user cooldown, in seconds."""
    answer_chars: Annotated[int, Ge(200), Le(4096)] = 1500
    """Longest answer text in a Discord message, in characters."""
    mention_replies_in_thread: bool = False
    """Answer a mention in a new thread (else in the channel, as a reply)."""
    mentions: bool = True
    """Answer messages that mention the bot or reply to it (asks for the guild_messages intent)."""
    message_content: bool = False
    """Ask for the privileged Message Content intent: only for thread follow-ups without a mention."""
    workers: Annotated[int, Ge(1), Le(32)] = 4
    """Questions answered at once (the engine runs in this many threads)."""
    feedback_db: APath = Path("feedback.sqlite3")
    """Where 👍/👎 reactions to answers are kept (`newsdesk feedback`)."""
    alerts_per_hour: Annotated[int, Ge(1), Le(50)] = 5
    """Story cards posted per followed topic (`/follow`) in any hour; the stories over it are summed up in one line."""

    @field_validator("channels", mode="before")
    @classmethod
    def _split_channels(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(",", " ").split()]
        return value


class Following(_Section):
    """Where followed feeds are kept, and how `newsdesk watch` notices new seed files."""

    feeds_db: Path | None = None
    """The followed feeds and what was fetched from them (`newsdesk feeds`, `update`, `watch`); unset:
    feeds.sqlite3 in the index directory, so each index keeps its own feeds (docs/feeds.md)."""
    watch_polling: bool = False
    """`newsdesk watch`: poll the seeds directory instead of file-system events (network drives, containers)."""
    watch_poll_seconds: Annotated[float, Gt(0)] = 2.0
    """How often the seeds directory is polled when NEWSDESK_WATCH_POLLING is on."""


NEEDS_MODEL = "needs NEWSDESK_LLM_URL (an OpenAI-compatible server) or NEWSDESK_LLM_GGUF"
"""What the written answers lack without a language model (the setting's and ``--answerer``'s error)."""


def has_model(llm: LLMConfig) -> bool:
    """True when a language model is configured: a server URL or a local .gguf file."""
    return bool(llm.url or llm.gguf)


@dataclasses.dataclass(frozen=True)
class Env:
    """How a section's fields are named as variables: ``NEWSDESK_`` + ``prefix`` + FIELD, except
    ``names`` (field → the rest of the variable's name); ``fixed`` fields have no variable."""

    prefix: str = ""
    names: Mapping[str, str] = dataclasses.field(default_factory=dict)
    fixed: tuple[str, ...] = ()


class Settings(BaseSettings):
    """newsdesk's configuration, one section per concern. Build it in ``main()``, never at import.

    ``Settings(k=3, answer_chars=900)`` sets values by variable name (without ``NEWSDESK_``), as the
    environment does; ``Settings(search=SearchConfig(k=3))`` sets a whole section.
    """

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    general: Annotated[General, Env()] = General()
    embedding: Annotated[
        EmbeddingConfig,
        Env(
            names={"backend": "EMBED_BACKEND", "threads": "EMBED_THREADS", "cache": "EMBED_CACHE"},
            fixed=("offline",),
        ),
    ] = EmbeddingConfig()
    ingest: Annotated[IngestConfig, Env()] = IngestConfig()
    chunking: Annotated[
        ChunkingConfig,
        Env(names={"max_tokens": "CHUNK_TOKENS", "overlap_sentences": "CHUNK_OVERLAP"}, fixed=("language",)),
    ] = ChunkingConfig()
    search: Annotated[
        SearchConfig,
        Env(
            names={"mode": "SEARCH_MODE"},
            fixed=("candidates", "fusion", "dense_weight", "rrf_k", "duplicate_overlap"),
        ),
    ] = SearchConfig()
    answer: Annotated[AnswerConfig, Env()] = AnswerConfig()
    vectors: Annotated[
        VectorConfig,
        Env(
            prefix="VECTOR_",
            names={
                "milvus_uri": "MILVUS_URI",
                "milvus_token": "MILVUS_TOKEN",
                "milvus_collection": "MILVUS_COLLECTION",
                "milvus_corpus": "MILVUS_CORPUS",
            },
        ),
    ] = VectorConfig()
    llm: Annotated[
        LLMConfig,
        Env(
            prefix="LLM_",
            names={"answerer": "ANSWERER", "context_tokens": "LLM_CONTEXT"},
            fixed=("passage_chars",),
        ),
    ] = LLMConfig()
    discord: Annotated[
        Discord,
        Env(
            prefix="DISCORD_",
            names={
                "cooldown_questions": "COOLDOWN_QUESTIONS",
                "cooldown_seconds": "COOLDOWN_SECONDS",
                "answer_chars": "ANSWER_CHARS",
                "mention_replies_in_thread": "MENTION_REPLIES_IN_THREAD",
                "feedback_db": "FEEDBACK_DB",
                "alerts_per_hour": "ALERTS_PER_HOUR",
            },
        ),
    ] = Discord()
    feeds: Annotated[
        FeedsConfig, Env(prefix="FEEDS_", names={"read_timeout": "FEEDS_TIMEOUT"}, fixed=("robots_ttl",))
    ] = FeedsConfig()
    following: Annotated[Following, Env()] = Following()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments first, then the environment, then the .env file: each read by variable name."""
        return (
            init_settings,
            _Variables(settings_cls, getattr(env_settings, "env_vars", {})),
            _Variables(settings_cls, getattr(dotenv_settings, "env_vars", {})),
        )

    @model_validator(mode="before")
    @classmethod
    def _into_sections(cls, data: object) -> object:
        """Values given by variable name (``k``, ``answer_chars``) go into their sections."""
        return nest(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _llm_configured(self) -> Settings:
        if self.llm.answerer == "llm" and not has_model(self.llm):
            raise ValueError(f"NEWSDESK_ANSWERER=llm {NEEDS_MODEL}")
        if self.llm.gguf and not Path(self.llm.gguf).expanduser().is_file():
            raise ValueError(f"NEWSDESK_LLM_GGUF: no file at {self.llm.gguf}")
        return self

    @property
    def index_dir(self) -> Path:
        """The index directory (``NEWSDESK_INDEX_DIR``)."""
        return self.general.index_dir

    @property
    def seeds_dir(self) -> Path:
        """The articles directory (``NEWSDESK_SEEDS_DIR``)."""
        return self.general.seeds_dir

    def replaced(self, **values: object) -> Settings:
        """These settings with some changed by variable name (``search_mode="dense"``), validated again."""
        for name in values:
            variable(name)  # a name that is no setting is an error, not ignored
        data = {name: _as_dict(getattr(self, name)) for name in type(self).model_fields}
        return type(self).model_validate({**data, **values})

    def engine_config(self, index_dir: Path | None = None) -> EngineConfig:
        """Everything the engine is made from (``index_dir`` overrides the setting, as ``--index`` does)."""
        return EngineConfig(
            index_dir=index_dir or self.index_dir,
            embedding=self.embedding,
            chunking=self.chunking,
            search=self.search,
            answer=self.answer,
            vectors=self.vectors,
            ingest=self.ingest,
            llm=self.llm,
        )


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting: its variable, where it lives, and how it is declared."""

    env: str
    """The variable, e.g. ``NEWSDESK_K``."""
    section: str
    field: str
    annotation: Any
    default: Any
    owner: type
    """The section class that declares it."""

    @property
    def secret(self) -> bool:
        """True for a value never shown: a ``SecretStr``, or a dataclass field kept out of its repr."""
        if dataclasses.is_dataclass(self.owner):
            return not next(f.repr for f in dataclasses.fields(self.owner) if f.name == self.field)
        return SecretStr in typing.get_args(self.annotation) or self.annotation is SecretStr

    @property
    def doc(self) -> str:
        """The docstring under the field's declaration (empty if it has none)."""
        if dataclasses.is_dataclass(self.owner):
            return _attribute_docs(self.owner).get(self.field, "")
        info: dict[str, FieldInfo] = self.owner.model_fields  # type: ignore[attr-defined]
        return info[self.field].description or ""


def _fields(cls: type) -> Iterator[tuple[str, Any, Any]]:
    """(name, annotation, default) of each field of a section class."""
    hints = typing.get_type_hints(cls, include_extras=True)
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            yield f.name, hints[f.name], default
    else:
        info: dict[str, FieldInfo] = cls.model_fields  # type: ignore[attr-defined]
        for name, field in info.items():
            yield name, hints[name], field.get_default(call_default_factory=True)


@functools.cache
def _attribute_docs(cls: type) -> dict[str, str]:
    """The docstrings under a dataclass's fields (as pydantic's ``use_attribute_docstrings`` reads a model's)."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
    statements = body.body if isinstance(body, ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, after in zip(statements, statements[1:], strict=False):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
            docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


@functools.cache
def settings() -> tuple[Setting, ...]:
    """Every setting, in the order of the sections and their fields."""
    found = []
    for section, info in Settings.model_fields.items():
        env = next(m for m in info.metadata if isinstance(m, Env))
        owner = typing.cast(type, info.annotation)
        for name, annotation, default in _fields(owner):
            if name not in env.fixed:
                rest = env.names.get(name, env.prefix + name.upper())
                found.append(Setting(PREFIX + rest.upper(), section, name, annotation, default, owner))
    return tuple(found)


@functools.cache
def _by_name() -> dict[str, Setting]:
    return {s.env.removeprefix(PREFIX).lower(): s for s in settings()}


def variable(name: str) -> tuple[str, str]:
    """The (section, field) of a variable named without ``NEWSDESK_`` (``k`` → ``("search", "k")``)."""
    found = _by_name().get(name.lower())
    if found is None:
        raise KeyError(f"no setting NEWSDESK_{name.upper()}")
    return found.section, found.field


def unknown_variables(variables: Mapping[str, str | None]) -> list[str]:
    """A line for each ``NEWSDESK_`` variable that is no setting, naming the nearest one: a typo is not silent."""
    known = {s.env for s in settings()}
    lines = []
    for key in sorted(variables):
        name = key.upper()
        if name.startswith(PREFIX) and name not in known:
            near = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
            hint = f" (did you mean {near[0]}?)" if near else " (see docs/settings.md)"
            lines.append(f"{key} is not a newsdesk setting; ignored{hint}")
    return lines


@functools.cache
def _by_location() -> dict[tuple[str, ...], Setting]:
    return {(s.section, s.field): s for s in settings()}


def _optional(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation) or (
        isinstance(annotation, types.UnionType) and type(None) in annotation.__args__
    )


def _mapping(annotation: Any) -> bool:
    base = typing.get_args(annotation)[0] if typing.get_origin(annotation) is Annotated else annotation
    return typing.get_origin(base) is dict or base is dict


def _parsed(setting: Setting, value: object) -> object:
    """A variable's text as its field takes it: a word that unsets an optional field, JSON for a mapping."""
    if not isinstance(value, str):
        return value
    if _optional(setting.annotation) and value.strip().lower() in NONE_WORDS:
        return None
    if _mapping(setting.annotation):
        try:
            return json.loads(value)
        except ValueError:
            return value  # refused by validation, naming the variable
    return value


def _as_dict(section: object) -> dict[str, Any]:
    if isinstance(section, BaseModel):
        return dict(section)
    return {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}  # type: ignore[arg-type]


def nest(data: dict[str, Any]) -> dict[str, Any]:
    """Values keyed by variable name (``k``) moved into their sections (``{"search": {"k": …}}``)."""
    by_name = _by_name()
    nested: dict[str, Any] = {}
    flat: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        setting = None if key in Settings.model_fields else by_name.get(key.lower())
        if setting is None:
            nested[key] = value
        else:
            flat.setdefault(setting.section, {})[setting.field] = _parsed(setting, value)
    for section, values in flat.items():
        given = nested.get(section)
        base = dict(given) if isinstance(given, dict) else _as_dict(given) if given is not None else {}
        nested[section] = {**base, **values}
    return nested


class _Variables(PydanticBaseSettingsSource):
    """The NEWSDESK_ variables of one source (the environment, a .env file), keyed without the prefix."""

    def __init__(self, settings_cls: type[BaseSettings], variables: Mapping[str, str | None]) -> None:
        super().__init__(settings_cls)
        self.variables = variables

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: ``__call__`` reads the variables by name, not by field."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """``{"k": "5", "answer_chars": "900", …}`` for every NEWSDESK_ variable set that is a setting."""
        names = _by_name()
        found: dict[str, Any] = {}
        for key, value in self.variables.items():
            rest = key.lower().removeprefix(PREFIX.lower())
            if key.lower().startswith(PREFIX.lower()) and rest in names and value is not None:
                found[rest] = value
        return found


def _message(error: Mapping[str, Any]) -> str:
    """Pydantic's message in newsdesk's words: ``must be hybrid, dense or lexical``."""
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "literal_error":
        return "must be " + str(error.get("ctx", {}).get("expected", "")).replace("'", "")
    if error["type"] == "predicate_failed":
        name = message.split("'")[1] if message.count("'") >= 2 else ""
        return "must be " + name.replace("_", " ") if name else message
    return message


def explain(exc: ValidationError) -> str:
    """A validation error as one line naming the variable: ``bad setting NEWSDESK_K='x': …``."""
    errors = exc.errors()
    first = errors[0]
    message = _message(first)
    location = [str(part) for part in first.get("loc", ())]
    if not location:  # a check across settings says which ones itself
        return f"bad settings: {message}"
    setting = _by_location().get(tuple(location[:2]))
    name = setting.env if setting else PREFIX + location[-1].upper()
    value = first.get("input")
    secret = setting is None or setting.secret
    shown = f"={value!r}" if isinstance(value, str) and not secret and len(value) <= 60 else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"bad setting {name}{shown}: {message}{more}"
