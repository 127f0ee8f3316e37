"""The consent ledger: provable opt-in, withdrawal, suppression and erasure.

Entry point: :class:`ConsentLedger`, bound to a :class:`db.Database`,
:class:`ConsentKeys` and :class:`ConsentSettings`; every user action is one
method. Other packages ask :meth:`ConsentLedger.eligibility` which addresses
may be mailed for a purpose (one set-based query).

Names are loaded on first use: ``python -m consent.verify`` must run with the
standard library and ``cryptography`` alone, and importing this package must
not pull in SQLAlchemy for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from consent.crypto import ConsentKeys, normalize_email, subject_hmac
    from consent.errors import (
        ConsentError,
        FutureEvent,
        IllegalTransition,
        ImportFormatError,
        InvalidEmail,
        InvalidInput,
        LedgerEmpty,
        OptInThrottled,
        SubjectNotFound,
        Suppressed,
        TokenError,
        TokenExpired,
        TokenInvalid,
        TokenReused,
        UnknownAction,
        UnknownConsentText,
        UnknownMethod,
        UnknownPurpose,
    )
    from consent.imports import ImportNotFound, ImportQueue
    from consent.ledger import ConsentLedger
    from consent.models import LEDGER_LOCK
    from consent.records import (
        ACTIONS,
        METHODS,
        ConsentSettings,
        ConsentTextRecord,
        Eligibility,
        EventInput,
        Evidence,
        ImportJobRecord,
        ImportResult,
        LedgerVerification,
        OptInRequest,
        PurposeRecord,
        PurposeState,
        RecordedEvent,
        RejectedRow,
        SignedTreeHead,
        SubjectTimeline,
        SuppressionRecord,
        TimelineEvent,
        TokenInfo,
        jsonable,
    )
    from consent.verify import ProofInvalid, verify_proof

_EXPORTS = {
    "consent.crypto": ("ConsentKeys", "normalize_email", "subject_hmac"),
    "consent.errors": (
        "ConsentError", "FutureEvent", "IllegalTransition", "ImportFormatError", "InvalidEmail",
        "InvalidInput", "LedgerEmpty", "OptInThrottled", "SubjectNotFound", "Suppressed",
        "TokenError", "TokenExpired", "TokenInvalid", "TokenReused", "UnknownAction",
        "UnknownConsentText", "UnknownMethod", "UnknownPurpose",
    ),
    "consent.imports": ("ImportNotFound", "ImportQueue"),
    "consent.ledger": ("ConsentLedger",),
    "consent.models": ("LEDGER_LOCK",),
    "consent.records": (
        "ACTIONS", "METHODS", "ConsentSettings", "ConsentTextRecord", "Eligibility", "EventInput",
        "Evidence", "ImportJobRecord", "ImportResult", "LedgerVerification", "OptInRequest",
        "PurposeRecord", "PurposeState", "RecordedEvent", "RejectedRow", "SignedTreeHead",
        "SubjectTimeline", "SuppressionRecord", "TimelineEvent", "TokenInfo", "jsonable",
    ),
    "consent.verify": ("ProofInvalid", "verify_proof"),
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "ACTIONS",
    "LEDGER_LOCK",
    "METHODS",
    "ConsentError",
    "ConsentKeys",
    "ConsentLedger",
    "ConsentSettings",
    "ConsentTextRecord",
    "Eligibility",
    "EventInput",
    "Evidence",
    "FutureEvent",
    "IllegalTransition",
    "ImportFormatError",
    "ImportJobRecord",
    "ImportNotFound",
    "ImportQueue",
    "ImportResult",
    "InvalidEmail",
    "InvalidInput",
    "LedgerEmpty",
    "LedgerVerification",
    "OptInRequest",
    "OptInThrottled",
    "ProofInvalid",
    "PurposeRecord",
    "PurposeState",
    "RecordedEvent",
    "RejectedRow",
    "SignedTreeHead",
    "SubjectNotFound",
    "SubjectTimeline",
    "Suppressed",
    "SuppressionRecord",
    "TimelineEvent",
    "TokenError",
    "TokenExpired",
    "TokenInfo",
    "TokenInvalid",
    "TokenReused",
    "UnknownAction",
    "UnknownConsentText",
    "UnknownMethod",
    "UnknownPurpose",
    "jsonable",
    "normalize_email",
    "subject_hmac",
    "verify_proof",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'consent' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
