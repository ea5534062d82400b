"""newsdesk's errors: each message says what went wrong; ``remedy`` says what fixes it.

Messages carry no front's wording (no command, no environment variable): a front turns ``remedy``
(and, for a setting, ``setting``) into its own words — the CLI into ``newsdesk index --full``, the
Discord bot into ``/reindex``.
"""

from __future__ import annotations

import enum


class Remedy(enum.Enum):
    """What the user can do about an error."""

    BUILD = "build"
    """Build the index (there is none)."""
    REBUILD = "rebuild"
    """Rebuild the index from scratch (it is damaged, or from another model, chunking or format)."""
    WAIT = "wait"
    """Wait for the build that is running to finish."""
    FIX_SETTING = "fix-setting"
    """Change the setting named by the error's ``setting``."""


class NewsdeskError(Exception):
    """Base of every error the fronts turn into a one-line message."""

    remedy: Remedy | None = None
    setting: str | None = None
    """The engine config field that fixes it (``vector_params``, ``embed_backend``, ``llm_url``…), if any."""

    def __init__(self, *args: object, setting: str | None = None) -> None:
        super().__init__(*args)
        if setting is not None:
            self.setting = setting


class BadQuestionError(NewsdeskError):
    """The question is empty, too long or otherwise unusable."""


class SeedsNotFoundError(NewsdeskError):
    """The seeds directory does not exist or holds no readable article."""


class IndexMissingError(NewsdeskError):
    """No index has been built at the given location."""

    remedy = Remedy.BUILD


class IndexCorruptError(NewsdeskError):
    """The index on disk cannot be read back."""

    remedy = Remedy.REBUILD


class IndexMismatchError(NewsdeskError):
    """The index was built with another model, chunking or format than the one configured."""

    remedy = Remedy.REBUILD


class IndexBusyError(NewsdeskError):
    """Another process is building this index right now."""

    remedy = Remedy.WAIT


class IndexLocationError(NewsdeskError):
    """The index directory cannot be used: it is a file, lies under one, or cannot be written."""


class IndexWriteError(NewsdeskError):
    """Writing a new generation failed (disk full, read-only, permissions); the previous one still serves."""


class VectorBackendError(NewsdeskError):
    """The vector store cannot be reached or refused a request (Milvus down, bad URI, bad token)."""


class SettingError(NewsdeskError):
    """An engine setting has a value the engine cannot use (the CLI exits 2, as for other bad settings)."""

    remedy = Remedy.FIX_SETTING

    def __init__(self, message: str, setting: str) -> None:
        super().__init__(message)
        self.setting = setting


class ModelLoadError(NewsdeskError):
    """The embedding model could not be loaded."""

    setting = "model"


class RankerLoadError(ModelLoadError):
    """The answer ranker (``ranker.json``) could not be loaded."""

    setting = "ranker"


class ReaderLoadError(ModelLoadError):
    """The reader's span model (``reader.json``) could not be loaded."""

    setting = "reader"


class LLMConfigError(NewsdeskError):
    """Written answers were asked for but no language model is configured, or it cannot be loaded."""


class LLMError(NewsdeskError):
    """The language model failed while answering (unreachable, refused the request, stopped mid-answer)."""


class LLMTimeoutError(LLMError):
    """The language model did not finish its answer in time."""


class FeedError(NewsdeskError):
    """A feed cannot be added, read or found (not a feed, unreachable, not subscribed)."""


class UnknownFeedError(FeedError):
    """No subscription has that URL or name."""


class FetchError(FeedError):
    """An HTTP fetch failed: the reason in one line, the status if the server answered, and whether to retry."""

    def __init__(
        self, reason: str, *, status: int | None = None, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.permanent = permanent


class BuildInterrupted(KeyboardInterrupt):
    """Ctrl-C during a build; ``live`` says whether the new index had already been swapped in."""

    def __init__(self, live: bool) -> None:
        super().__init__("interrupted after the new index went live" if live else "interrupted before the swap")
        self.live = live


class TopicError(NewsdeskError):
    """A followed topic cannot be added or removed (empty, too long, already followed), or a briefing's
    dates are unusable."""


class UnknownTopicError(TopicError):
    """No such topic is followed."""
