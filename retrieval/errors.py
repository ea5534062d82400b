"""newsdesk's errors: each message says what went wrong and how to fix it."""


class NewsdeskError(Exception):
    """Base of every error the fronts turn into a one-line message."""


class BadQuestionError(NewsdeskError):
    """The question is empty, too long or otherwise unusable."""


class SeedsNotFoundError(NewsdeskError):
    """The seeds directory does not exist or holds no readable article."""


class IndexMissingError(NewsdeskError):
    """No index has been built at the given location."""


class IndexCorruptError(NewsdeskError):
    """The index on disk cannot be read back."""


class IndexMismatchError(NewsdeskError):
    """The index was built with another model, chunking or format than the one configured."""


class IndexBusyError(NewsdeskError):
    """Another process is building this index right now."""


class ModelLoadError(NewsdeskError):
    """The embedding model could not be loaded."""


class LLMConfigError(NewsdeskError):
    """Written answers were asked for but no language model is configured, or it cannot be loaded."""


class LLMError(NewsdeskError):
    """The language model failed while answering (unreachable, refused the request, stopped mid-answer)."""


class LLMTimeoutError(LLMError):
    """The language model did not finish its answer in time."""


class FeedError(NewsdeskError):
    """A feed cannot be added, read or found (not a feed, unreachable, not subscribed)."""


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
