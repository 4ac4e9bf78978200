"""One exception tree for newsdesk.

Every error that newsdesk raises on purpose derives from :class:`NewsdeskError`, so the CLI, API and
pipeline can catch one type, show one clear line, and carry on::

    NewsdeskError
    ├── ValidationError        a model object that would be invalid (also a ValueError)
    ├── SettingsError          bad newsdesk.toml / NEWSDESK_* value, bad sources.yaml or taxonomy.yaml
    ├── RecordError            a record file that does not follow the record format (names the field)
    ├── StorageError           the database refused or is unreachable
    │   └── UnknownSourceError a queued job names a source that is gone (never retried)
    ├── QueueError             Redis (the job queue) is unreachable or refused a command
    ├── SourceError            anything that went wrong for one source (carries ``source_url``)
    │   ├── FetchError         HTTP-level failure (carries ``url`` and a short ``kind``)
    │   │   ├── BlockedURLError       SSRF guard refused the address (private, loopback, …)
    │   │   ├── RobotsDisallowed      robots.txt forbids the URL
    │   │   ├── TooLargeError         body went past the size cap
    │   │   ├── RedirectError         redirect loop or too many redirects
    │   │   └── ContentTypeError      the body is not what was expected (binary served as HTML, …)
    │   └── ParseError         the body arrived but could not be parsed (malformed feed, sitemap, OPML)
    ├── ExtractionError        a page could not be turned into an article
    ├── EnrichmentError        a model, taxonomy or ratings file problem
    ├── ImageError             an image could not be cached (carries ``url``)
    ├── CryptoError            wrong key, tampered payload, missing key
    ├── RuleError              a publish rule that does not parse or names an unknown field
    └── ExportError            the export folder is unusable or locked by another export

Errors carry what they concern (a source URL, a page URL, a field name) so the orchestrator can record
them against it; ``kind`` is a short stable token used for counting errors by kind in run summaries.
"""

from __future__ import annotations


class NewsdeskError(Exception):
    """Root of every error newsdesk raises on purpose."""

    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ValidationError(NewsdeskError, ValueError):
    """An Article, Source, Topic… that would break the model's rules (a bad URL, a score out of range)."""

    kind = "invalid"


class SettingsError(NewsdeskError):
    kind = "settings"


class RecordError(NewsdeskError):
    """A record file that does not follow the format; ``field`` names the offending key."""

    kind = "record"

    def __init__(self, message: str, *, field: str | None = None, path: str | None = None) -> None:
        where = f"{path}: " if path else ""
        what = f"{field}: " if field else ""
        super().__init__(f"{where}{what}{message}")
        self.detail = message
        self.field = field
        self.path = path


class StorageError(NewsdeskError):
    kind = "storage"


class UnknownSourceError(StorageError):
    """A job names a source id the store does not hold (removed after it was queued)."""

    kind = "unknown-source"

    def __init__(self, source_id: int) -> None:
        super().__init__(f"no such source: {source_id} (removed after its job was queued?)")
        self.source_id = source_id


class QueueError(NewsdeskError):
    """Redis is unreachable or refused a command; the message names the Redis address."""

    kind = "queue"


class SourceError(NewsdeskError):
    """Something went wrong for one source; the run records it and goes on."""

    kind = "source"

    def __init__(self, message: str, *, source_url: str | None = None) -> None:
        super().__init__(message)
        self.source_url = source_url


class FetchError(SourceError):
    """An HTTP-level failure for ``url``; ``status`` is set when a response arrived."""

    kind = "fetch"
    retry_after: float | None = None  # seconds the server asked us to wait (429/503 Retry-After)

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        source_url: str | None = None,
        kind: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, source_url=source_url)
        self.url = url
        self.status = status
        self.retry_after = retry_after
        if kind:
            self.kind = kind


class BlockedURLError(FetchError):
    kind = "blocked"


class RobotsDisallowed(FetchError):
    kind = "robots"


class TooLargeError(FetchError):
    kind = "too-large"


class RedirectError(FetchError):
    kind = "redirect"


class ContentTypeError(FetchError):
    kind = "content-type"


class ParseError(SourceError):
    kind = "parse"


class ExtractionError(NewsdeskError):
    kind = "extract"

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class EnrichmentError(NewsdeskError):
    kind = "enrich"


class ImageError(NewsdeskError):
    kind = "image"

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class CryptoError(NewsdeskError):
    kind = "crypto"


class RuleError(NewsdeskError):
    kind = "rule"


class ExportError(NewsdeskError):
    kind = "export"
