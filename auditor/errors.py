"""Exceptions raised by the sender audit.

DNS outcomes are not exceptions (see :mod:`auditor.resolver`); these are for
bad input, bad configuration and bad data files.
"""

from __future__ import annotations

__all__ = [
    "AuditorError",
    "CatalogueError",
    "PermError",
    "ProfileError",
    "ResolverConfigError",
    "SenderSpecError",
    "SpfError",
    "TempError",
]


class AuditorError(Exception):
    """Base class of every error the auditor raises."""


class ResolverConfigError(AuditorError, ValueError):
    """A nameserver entry, timeout or cache setting is unusable."""


class SenderSpecError(AuditorError, ValueError):
    """A sender description (domain, IP, selector, HELO) is malformed."""


class CatalogueError(AuditorError):
    """A data file under auditor/data is missing or malformed."""


class ProfileError(AuditorError, LookupError):
    """No profile of that name, or the profile names an unknown code."""


class SpfError(AuditorError):
    """An SPF evaluation ended in an error result (RFC 7208 section 2.6)."""


class PermError(SpfError):
    """The published SPF records could not be interpreted (permerror)."""


class TempError(SpfError):
    """A DNS failure stopped the SPF evaluation (temperror)."""

    def __init__(self, message: str, lookup: object | None = None) -> None:
        super().__init__(message)
        self.lookup = lookup
