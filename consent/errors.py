"""Exceptions of the consent ledger.

Every refusal names the input field at fault (``field``) and never quotes an
email address, IP or secret, so messages are safe to log and to show.
"""

from __future__ import annotations


class ConsentError(Exception):
    """Base class of every error the consent ledger raises."""


class InvalidInput(ConsentError):
    """An input value is unusable; ``field`` names it (e.g. ``email``, ``occurred_at``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidEmail(InvalidInput):
    """The address is not a syntactically valid (or, when asked, deliverable) email address."""


class UnknownPurpose(InvalidInput):
    """The purpose is not in the purpose registry."""


class UnknownAction(InvalidInput):
    """The action is not one of the ledger's actions."""


class UnknownMethod(InvalidInput):
    """The method is not one of the ledger's methods."""


class UnknownConsentText(InvalidInput):
    """The evidence names a consent text version that was never recorded."""


class FutureEvent(InvalidInput):
    """``occurred_at`` lies further in the future than the allowed clock skew."""


class IllegalTransition(InvalidInput):
    """The action is not allowed in the subject's current state (e.g. confirm without request)."""


class Suppressed(InvalidInput):
    """The address is on the suppression list; ``reason`` says why (e.g. ``erased``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, f"address is suppressed ({reason})")
        self.reason = reason


class TokenError(InvalidInput):
    """A confirmation or unsubscribe token cannot be used."""


class TokenInvalid(TokenError):
    """The token is malformed or its signature does not verify."""


class TokenExpired(TokenError):
    """The token's validity has passed."""


class TokenReused(TokenError):
    """The single-use token was already used."""


class OptInThrottled(ConsentError):
    """The address was sent as many confirmation mails as the policy allows for now."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many confirmation requests; try again in {retry_after} s")
        self.retry_after = retry_after


class SubjectNotFound(ConsentError):
    """The ledger holds nothing about this address."""


class ImportFormatError(ConsentError):
    """A CSV file cannot be imported at all; ``line`` is its 1-based line (0: the whole file)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.message = message


class LedgerEmpty(ConsentError):
    """A tree head or proof was asked for before any event was recorded."""
