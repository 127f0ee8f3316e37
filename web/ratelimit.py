"""Request budgets per client for pages anyone can reach, shared by every worker.

Budgets are counted in fixed windows stored in the database, so all gunicorn
workers and restarts see the same count. Clients are keyed by an HMAC of their
address (never the address itself); IPv6 clients by their /64, the smallest
block one subscriber line is normally given.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from db import Base, UTCDateTime


class RateLimitWindow(Base):
    """How many requests one client made to one bucket in one window."""

    __tablename__ = "rate_limit_windows"

    bucket: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)


windows = RateLimitWindow.__table__


class RateLimited(Exception):
    """The client spent its budget; ``retry_after`` says in how many seconds it refills."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Budget:
    bucket: str
    limit: int
    window: timedelta


def client_key(secret: bytes, address: str | None) -> str:
    """The keyed hash a client's budget is counted under."""
    text = address or "unknown"
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is None:
        text = str(ipaddress.IPv6Network(f"{parsed}/64", strict=False))
    elif isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        text = str(parsed.ipv4_mapped)
    return hmac.new(secret, b"rate-limit|" + text.encode(), hashlib.sha256).hexdigest()


def spend(session: Session, budget: Budget, key: str, now: datetime) -> None:
    """Count one request of client ``key``; raise :class:`RateLimited` past the limit.

    Requests over the limit are counted too, so a client that keeps hammering
    does not get a fresh allowance the moment its window turns.
    """
    seconds = int(budget.window.total_seconds())
    start = datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=now.tzinfo)
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(windows).values(
        bucket=budget.bucket, client_key=key, window_start=start, hits=1
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["bucket", "client_key", "window_start"],
            set_={"hits": windows.c.hits + 1},
        )
    )
    hits = session.execute(
        select(windows.c.hits).where(
            windows.c.bucket == budget.bucket,
            windows.c.client_key == key,
            windows.c.window_start == start,
        )
    ).scalar_one()
    if hits > budget.limit:
        raise RateLimited(max(1, int((start + budget.window - now).total_seconds())))


def purge_windows(session: Session, older_than: datetime) -> int:
    """Delete windows that started before ``older_than``; returns how many."""
    result = session.execute(delete(windows).where(windows.c.window_start < older_than))
    return int(result.rowcount)  # type: ignore[attr-defined]
