"""Every exception of the product. The API maps them to HTTP in one place (api/app.py) and the
state machine's ErrorEquals matches the same class names."""

from __future__ import annotations


class OmsError(Exception):
    """Base of all expected errors; the message is safe to show to a client."""


class NotFoundError(OmsError):
    pass


class ConflictError(OmsError):
    code = "conflict"


class IdempotencyConflictError(ConflictError):
    """An Idempotency-Key reused with another body, or while its first request is in flight."""

    code = "idempotency_conflict"


class InvalidInputError(OmsError):
    pass


class CloudError(OmsError):
    """An OpenStack call failed; `kind` says what the workflow should do about it."""

    kind = "unknown"
    counts_against_health = True

    def __init__(self, message: str, provider: str = "") -> None:
        super().__init__(message)
        self.provider = provider


class ProviderAuthError(CloudError):
    kind = "auth"


class ProviderUnavailableError(CloudError):
    """Maintenance, 5xx, timeouts: the provider cannot serve now."""

    kind = "unavailable"


class QuotaExceededError(CloudError):
    kind = "quota"
    counts_against_health = False


class UnfitShapeError(CloudError):
    """The provider lacks the image, flavor or network the request needs."""

    kind = "unfit"
    counts_against_health = False


class BootFailedError(CloudError):
    kind = "boot"


class ServerNotFoundError(CloudError):
    kind = "gone"
    counts_against_health = False
