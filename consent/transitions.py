"""The consent state machine: which action is legal in which state, and what it leads to.

Pure functions over plain dicts (the rows of ``consent_state`` and
``consent_suppressions``), so one batch of appends can be checked in memory
before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consent.errors import IllegalTransition, Suppressed
from consent.records import SUPPRESSING_METHODS, Evidence


@dataclass
class Pending:
    """An event validated against its input, waiting for the lock to be appended."""

    subject: str
    purpose: str | None
    action: str
    method: str
    occurred_at: datetime
    actor: str
    has_evidence: bool
    field_prefix: str = ""
    email: str | None = None
    name: str | None = None
    evidence: Evidence = field(default_factory=Evidence)
    profile: dict[str, str | None] | None = None
    text_id: int | None = None
    text_sha256: str | None = None


StateRow = dict[str, Any]
SuppressionRow = dict[str, Any]


def apply(
    state: StateRow | None,
    suppression: SuppressionRow | None,
    *,
    subject: str,
    purpose: str,
    action: str,
    method: str,
    has_evidence: bool,
    occurred_at: datetime,
    seq: int,
    now: datetime,
    field_name: str,
) -> tuple[StateRow, SuppressionRow | None, bool]:
    """The state after ``action``, the suppression after it, and whether that suppression changed.

    Raises :class:`Suppressed` or :class:`IllegalTransition` (naming ``field``)
    when the action is not allowed; nothing is mutated in that case.
    """
    if suppression is not None and suppression["reason"] == "erased":
        raise Suppressed(field_name, "erased")
    status = state["status"] if state is not None else None
    new: StateRow = (
        dict(state)
        if state is not None
        else {
            "subject_hmac": subject,
            "purpose": purpose,
            "status": "requested",
            "granted_at": None,
            "granted_seq": None,
            "method": None,
            "has_evidence": False,
            "pending_request_seq": None,
        }
    )
    new["last_seq"] = seq
    new["updated_at"] = now
    new_suppression = suppression
    changed = False

    if action == "requested":
        new["pending_request_seq"] = seq
        if status != "active":
            new["status"] = "requested"
    elif action == "confirmed":
        if state is None or state["pending_request_seq"] is None:
            raise IllegalTransition(
                field_name,
                "confirmed without a pending request"
                if status != "active"
                else "already confirmed; no request is pending",
            )
        new.update(
            status="active",
            granted_at=occurred_at,
            granted_seq=seq,
            method=method,
            has_evidence=True,
            pending_request_seq=None,
        )
        if suppression is not None:
            # The person proved control of the address and asked again: their latest word wins.
            new_suppression, changed = None, True
    elif action == "granted":
        if suppression is not None:
            raise Suppressed(field_name, suppression["reason"])
        new.update(
            status="active",
            granted_at=occurred_at,
            granted_seq=seq,
            method=method,
            has_evidence=has_evidence,
        )
    elif action == "withdrawn":
        new.update(status="withdrawn", pending_request_seq=None)
        if suppression is None:
            reason = method if method in SUPPRESSING_METHODS else "withdrawn"
            new_suppression = {
                "subject_hmac": subject,
                "reason": reason,
                "purpose": purpose,
                "since": occurred_at,
                "seq": seq,
            }
            changed = True
    elif action == "expired":
        if status != "active":
            raise IllegalTransition(field_name, f"only active consent can expire (state: {status})")
        new["status"] = "expired"
    else:
        raise IllegalTransition(field_name, f"{action} cannot be recorded this way")
    return new, new_suppression, changed
