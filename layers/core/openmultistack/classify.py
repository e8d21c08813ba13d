"""Classifying OpenStack failures (pure): what the workflow should do about an exception raised
by openstacksdk or keystoneauth. Matched by status code and class name so this module imports
neither library (the API function stays light)."""

from __future__ import annotations

from openmultistack.errors import (
    BootFailedError,
    CloudError,
    ProviderAuthError,
    ProviderUnavailableError,
    QuotaExceededError,
    ServerNotFoundError,
    UnfitShapeError,
)

_UNAVAILABLE_CLASSES = {
    "ConnectFailure",
    "ConnectTimeout",
    "ConnectionError",
    "UnknownConnectionError",
    "RetriableConnectionFailure",
    "DiscoveryFailure",
    "VersionNotAvailable",
    "EndpointNotFound",
    "EmptyCatalog",
    "SSLError",
    "ReadTimeout",
    "Timeout",
    "ServiceDiscoveryException",
}
_BOOT_CLASSES = {"ResourceFailure", "ResourceTimeout"}


def _status(error: BaseException) -> int | None:
    for attr in ("status_code", "http_status"):
        value = getattr(error, attr, None)
        if isinstance(value, int):
            return value
    return None


def _mro_names(error: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(error).__mro__}


def classify(error: BaseException, provider: str) -> CloudError:
    """Map any exception from an OpenStack call to one of our CloudError kinds. The message is
    the provider's own words; the kind travels separately (attempts show both)."""
    if isinstance(error, CloudError):
        return error
    status = _status(error)
    names = _mro_names(error)
    message = _short(error)
    if status == 401 or "Unauthorized" in names:
        return ProviderAuthError(message, provider)
    if status == 403 and "quota" in message.lower():
        return QuotaExceededError(message, provider)
    if status == 403:
        return ProviderAuthError(f"forbidden: {message}", provider)
    if status == 404:
        return ServerNotFoundError(message, provider)
    if status in (400, 409):
        return UnfitShapeError(message, provider)
    if (status is not None and status >= 500) or names & _UNAVAILABLE_CLASSES:
        return ProviderUnavailableError(message, provider)
    if names & _BOOT_CLASSES:
        return BootFailedError(message, provider)
    return ProviderUnavailableError(f"{type(error).__name__}: {message}", provider)


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:300] or type(error).__name__
