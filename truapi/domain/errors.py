"""Domain errors. They describe what went wrong in domain words and know nothing of HTTP."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain and the use cases raise on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    """A thing the caller named does not exist (or is not visible to them)."""


class Conflict(DomainError):
    """The change would break a uniqueness or state rule."""


class InvalidValue(DomainError):
    """A value breaks an invariant; ``field`` names the input it came from."""

    def __init__(self, field: str, detail: str, kind: str = "value_error") -> None:
        super().__init__(detail)
        self.field = field
        self.kind = kind


class UserNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No user with this id exists.")


class TenantNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No tenant with this id or slug exists.")


class UsernameTaken(Conflict):
    def __init__(self) -> None:
        super().__init__("A user with this username already exists.")


class EmailTaken(Conflict):
    def __init__(self) -> None:
        super().__init__("A user with this email address already exists.")


class TenantSlugTaken(Conflict):
    def __init__(self) -> None:
        super().__init__("A tenant with this slug already exists.")


class GroupNameTaken(Conflict):
    def __init__(self) -> None:
        super().__init__("A group with this name already exists.")


class PasswordTooCommon(InvalidValue):
    def __init__(self) -> None:
        super().__init__(
            "password", "This password is too common; choose another.", "password_too_common"
        )


class VersionMismatch(DomainError):
    """The caller's precondition (``If-Match``) names a version that is no longer current."""

    def __init__(self) -> None:
        super().__init__("The resource has changed since the given ETag was issued.")


class IdempotencyKeyReused(DomainError):
    """An idempotency key was sent again with a different request."""

    def __init__(self) -> None:
        super().__init__("This Idempotency-Key was already used with a different request body.")


class IdempotencyInProgress(DomainError):
    """A request with the same idempotency key is still being processed."""

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still in progress; retry.")


class InvalidCursor(DomainError):
    def __init__(self) -> None:
        super().__init__("The pagination cursor is invalid, tampered with, or from another query.")


class AuthenticationFailed(DomainError):
    """The caller could not be authenticated. Subclasses name why, in words safe to show."""


class Unauthenticated(AuthenticationFailed):
    def __init__(self) -> None:
        super().__init__("Authentication is required.")


class InvalidCredentials(AuthenticationFailed):
    def __init__(self) -> None:
        super().__init__("The username or password is incorrect.")


class InvalidToken(AuthenticationFailed):
    """A bearer token was refused. ``reason`` is for logs and metrics, never for the body."""

    def __init__(self, reason: str = "invalid") -> None:
        super().__init__("The access token is invalid or has expired.")
        self.reason = reason


class InvalidRefreshToken(AuthenticationFailed):
    def __init__(self) -> None:
        super().__init__("The refresh token is invalid, expired or revoked.")


class RefreshTokenReused(AuthenticationFailed):
    def __init__(self) -> None:
        super().__init__(
            "This refresh token was already used; the session has been revoked for safety."
        )


class SessionRevoked(AuthenticationFailed):
    def __init__(self) -> None:
        super().__init__("The session has been revoked.")


class TooManyAttempts(DomainError):
    """Login throttled; ``retry_after`` is in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed attempts; retry later.")
        self.retry_after = retry_after


class Forbidden(DomainError):
    def __init__(self, detail: str = "You are not allowed to do this.") -> None:
        super().__init__(detail)


class SessionNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No session with this id exists.")


class KeyStoreUnreadable(DomainError):
    """Stored signing keys cannot be decrypted with the configured encryption keys."""


class InvalidCurrentPassword(InvalidValue):
    def __init__(self) -> None:
        super().__init__(
            "current_password", "The current password is incorrect.", "invalid_current_password"
        )


class GroupNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No group with this id exists.")


class MemberNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("This member is not a direct member of the group.")


class ResourceNotFound(NotFound):
    def __init__(self, detail: str = "No resource with this id exists.") -> None:
        super().__init__(detail)


class GroupCycle(Conflict):
    def __init__(self) -> None:
        super().__init__("This membership would make a group a member of itself.")


class ResourceCycle(Conflict):
    def __init__(self) -> None:
        super().__init__("This parent would make the resource its own ancestor.")


class HierarchyTooDeep(Conflict):
    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"This change would nest {what} deeper than {limit} levels.")


class ResourceHasChildren(Conflict):
    def __init__(self) -> None:
        super().__init__("The resource has children; delete them first or pass cascade=true.")


class ReservedResourceType(InvalidValue):
    def __init__(self, kind: str) -> None:
        super().__init__(
            "resource",
            f"Resources of type '{kind}' are managed by TruAPI itself and cannot be changed here.",
            "reserved_resource_type",
        )


class GroupProtected(Conflict):
    def __init__(self) -> None:
        super().__init__("The tenant's administrators group cannot be renamed or deleted.")
