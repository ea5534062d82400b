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
