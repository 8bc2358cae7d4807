"""The one error tree of smartsupport.

    SmartsupportError
    ├── ConfigurationError      a wrong setting or a missing driver; the message names the fix
    ├── EncryptionError         a stored value's key is missing, or the value was tampered with
    ├── BackendError            a store, cache or broker failed; raised ``from`` the driver error
    │   ├── BackendUnavailable  it cannot be reached at all
    │   └── RemoteError         a call to another service failed; ``retryable``, ``retry_after``
    │       ├── LLMError        a language-model provider failed
    │       │   └── LLMTimeout  it did not answer within the step's timeout
    │       ├── DeliveryError   a helpdesk or chat service refused or failed a call (outbox)
    │       └── TranscriptionError  the speech-to-text server failed (voice notes)
    └── RequestError            the caller sent something we refuse (HTTP 4xx)
        ├── InvalidInput        400/422: malformed, oversized or empty input
        ├── Unauthorized        401: missing or wrong token
        ├── Forbidden           403: a valid identity without the right to this resource
        ├── NotFound            404: unknown workspace, conversation, ...
        ├── Conflict            409: the resource is in a state that refuses the request
        ├── TooLarge            413: an upload over its size limit
        └── RateLimited         429: slow down; ``retry_after`` seconds

Driver exceptions (asyncpg, redis, sqlite3) are translated into this tree at the backend
boundary, so the rest of the code never imports a driver to catch its errors. Calls to
other services follow one policy (``smartsupport.remote``): its verdict travels on the
``RemoteError`` as ``retryable`` and ``retry_after``. Actions (``dialogue/actions.py``) raise
nothing for a failed call: they report it as an outcome, so they need no class here.
"""

from __future__ import annotations


class SmartsupportError(Exception):
    """Base of every error smartsupport raises on purpose."""


class ConfigurationError(SmartsupportError):
    """A setting is wrong or a driver is missing. The message says how to fix it."""


class EncryptionError(SmartsupportError):
    """A stored value cannot be decrypted: its key is not in the keyring, or the value (or
    the row it was moved to) was changed. Never answered with garbage (keyring.py)."""


class BackendError(SmartsupportError):
    """A backend (database, Redis, ...) failed while serving a request."""


class BackendUnavailable(BackendError):
    """A backend cannot be reached."""


class RemoteError(BackendError):
    """A call to another service failed. ``retryable`` says whether the same call may
    succeed if repeated (timeouts, 429, the statuses in ``remote.RETRYABLE_STATUSES``);
    ``retry_after`` is the service's own hint in seconds, when it gave one."""

    def __init__(
        self, message: str, *, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class LLMError(RemoteError):
    """A language-model call failed (also: a stream cut before its end, an open circuit)."""


class LLMTimeout(LLMError):
    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class DeliveryError(RemoteError):
    """A helpdesk (Zendesk, Freshdesk) or chat service (Slack, Teams) call failed;
    ``retryable`` says whether the outbox should try again."""


class TranscriptionError(RemoteError):
    """A speech-to-text call failed (transcription.py); the voice note is kept and the
    customer is told the assistant cannot listen to it."""


class RequestError(SmartsupportError):
    """The client asked for something we refuse; maps to a 4xx response."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(RequestError):
    status_code = 422
    code = "invalid_input"


class Unauthorized(RequestError):
    status_code = 401
    code = "unauthorized"


class Forbidden(RequestError):
    status_code = 403
    code = "forbidden"


class NotFound(RequestError):
    status_code = 404
    code = "not_found"


class Conflict(RequestError):
    status_code = 409
    code = "conflict"


class TooLarge(RequestError):
    status_code = 413
    code = "too_large"


class RateLimited(RequestError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def missing_extra(package: str, extra: str, purpose: str) -> ConfigurationError:
    """The error for an optional driver that is not installed."""
    return ConfigurationError(
        f"{purpose} needs the '{package}' package, which is not installed. "
        f"Install it with: pip install 'smartsupport[{extra}]'"
    )
