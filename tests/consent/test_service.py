"""Recording rules, double opt-in, withdrawal, erasure, state, eligibility and re-permission."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, inspect, select, text, update

import db
from consent import (
    ConsentLedger,
    ConsentSettings,
    EventInput,
    Evidence,
    FutureEvent,
    IllegalTransition,
    InvalidEmail,
    InvalidInput,
    OptInThrottled,
    SubjectNotFound,
    Suppressed,
    TokenExpired,
    TokenInvalid,
    TokenReused,
    UnknownAction,
    UnknownConsentText,
    UnknownMethod,
    UnknownPurpose,
)
from consent.models import events, optin_tokens, subject_keys, subjects
from db.engine import sqlite_file

PURPOSE = "marketing-email"


def _count(ledger: ConsentLedger) -> int:
    with ledger.database.session() as session:
        return int(session.execute(text("SELECT count(*) FROM consent_events")).scalar_one())


@pytest.mark.parametrize(
    ("event", "error", "field"),
    [
        (EventInput("not-an-address", PURPOSE, "granted", "api"), InvalidEmail, "email"),
        (EventInput("a@example.com", "newsletter", "granted", "api"), UnknownPurpose, "purpose"),
        (EventInput("a@example.com", PURPOSE, "liked", "api"), UnknownAction, "action"),
        (EventInput("a@example.com", PURPOSE, "granted", "fax"), UnknownMethod, "method"),
        (EventInput("a@example.com", PURPOSE, "confirmed", "api"), IllegalTransition, "action"),
        (EventInput("a@example.com", PURPOSE, "expired", "admin"), IllegalTransition, "action"),
        (
            EventInput(
                "a@example.com",
                PURPOSE,
                "granted",
                "api",
                occurred_at=db.utcnow() + timedelta(hours=1),
            ),
            FutureEvent,
            "occurred_at",
        ),
        (
            EventInput(
                "a@example.com", PURPOSE, "granted", "api", occurred_at=datetime(2026, 1, 1)
            ),
            InvalidInput,
            "occurred_at",
        ),
        (
            EventInput("a@example.com", PURPOSE, "granted", "api", Evidence(text_version="v9")),
            UnknownConsentText,
            "evidence.text",
        ),
        (
            EventInput("a@example.com", PURPOSE, "granted", "api", Evidence(ip="300.1.1.1")),
            InvalidInput,
            "evidence.ip",
        ),
    ],
)
def test_bad_events_are_refused_precisely(
    ledger: ConsentLedger, event: EventInput, error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as caught:
        ledger.record(event)
    assert caught.value.field == field  # type: ignore[attr-defined]
    assert "a@example.com" not in str(caught.value)
    assert _count(ledger) == 0


def test_a_bad_event_in_a_batch_stores_nothing(ledger: ConsentLedger) -> None:
    batch = [
        EventInput("a@example.com", PURPOSE, "granted", "api"),
        EventInput("b@example.com", PURPOSE, "confirmed", "api"),
    ]
    with pytest.raises(IllegalTransition) as caught:
        ledger.record_many(batch)
    assert caught.value.field == "events[1].action"
    assert _count(ledger) == 0
    assert ledger.state("a@example.com") == []


def test_double_opt_in_flow(ledger: ConsentLedger) -> None:
    consent_text = ledger.add_consent_text(PURPOSE, "v1", "de", "Wir senden Angebote.")
    request = ledger.request_opt_in(
        "Dora@Example.com",
        PURPOSE,
        Evidence(text_id=consent_text.id, form_url="https://shop.example/join", ip="192.0.2.1"),
        language="de",
    )
    assert request.confirm_url.startswith("https://gate.example.org/confirm/")
    [state] = ledger.state("dora@example.com")
    assert (state.status, state.valid, state.pending_request) == ("requested", False, True)
    info = ledger.inspect_token(request.token)
    assert (info.kind, info.purpose, info.used) == ("confirm", PURPOSE, False)

    message = ledger.confirmation_email(
        request, "dora@example.com", sender="news@shop.example", language="de"
    )
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "Bitte bestätigen Sie Ihr Abonnement"
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in parsed.walk()
        if not p.is_multipart()
    }
    assert request.confirm_url in parts["text/plain"]
    assert request.confirm_url.replace("&", "&amp;") in parts["text/html"]
    for language, word in (("fr", "confirmer"), ("en", "confirm"), ("ja", "confirm")):
        localized = ledger.confirmation_email(
            request, "dora@example.com", sender="n@s.example", language=language
        )
        assert word in str(localized["Subject"]).lower()

    confirmed = ledger.confirm_opt_in(request.token, Evidence(ip="192.0.2.2", user_agent="UA"))
    assert confirmed.action == "confirmed" and confirmed.seq == request.event.seq + 1
    [state] = ledger.state("dora@example.com")
    assert (state.status, state.valid, state.method) == ("active", True, "double-opt-in")
    with pytest.raises(TokenReused):
        ledger.confirm_opt_in(request.token)
    timeline = ledger.timeline("dora@example.com")
    assert timeline.email == "dora@example.com" and timeline.language == "de"
    assert timeline.events[1].text_sha256 == consent_text.sha256  # confirmed what was shown
    assert timeline.events[1].personal == {"ip": "192.0.2.2", "user_agent": "UA"}


def test_tokens_expire_are_checked_and_purged(ledger: ConsentLedger) -> None:
    short = ConsentLedger(
        ledger.database, ledger.keys, ConsentSettings(optin_token_ttl=timedelta(seconds=-1))
    )
    request = short.request_opt_in("e@example.com", PURPOSE)
    with pytest.raises(TokenExpired):
        short.confirm_opt_in(request.token)
    with pytest.raises(TokenInvalid):
        short.confirm_opt_in(request.token[:-2] + "AA")
    with pytest.raises(TokenInvalid):
        short.confirm_opt_in("garbage")
    fresh = ledger.request_opt_in("f@example.com", PURPOSE)
    # An expired token is kept while it still counts towards the address's daily mails.
    assert ledger.purge_expired_tokens() == 0
    assert ledger.purge_expired_tokens(db.utcnow() + timedelta(hours=25)) == 1
    with ledger.database.session() as session:
        assert session.execute(select(optin_tokens.c.purpose)).scalars().all() == [PURPOSE]
    ledger.confirm_opt_in(fresh.token)


def test_confirmation_mails_per_address_are_limited_per_day(ledger: ConsentLedger) -> None:
    for _ in range(3):
        ledger.request_opt_in("h@example.com", PURPOSE)
    with pytest.raises(OptInThrottled) as caught:
        ledger.request_opt_in("H@Example.com", PURPOSE)
    assert 24 * 3600 - 60 < caught.value.retry_after <= 24 * 3600
    assert len(ledger.timeline("h@example.com").events) == 3  # the refused one left no trace
    ledger.request_opt_in("i@example.com", PURPOSE)  # other addresses are not affected
    ledger.add_purpose("product-news")
    ledger.request_opt_in("h@example.com", "product-news")  # nor other purposes
    # A day after the oldest request, one more mail is allowed.
    subject = ledger.subject_id("h@example.com")
    with ledger.database.session() as session:
        oldest = session.execute(
            select(func.min(optin_tokens.c.issued_at)).where(optin_tokens.c.subject_hmac == subject)
        ).scalar_one()
        session.execute(
            update(optin_tokens)
            .where(optin_tokens.c.subject_hmac == subject, optin_tokens.c.issued_at == oldest)
            .values(issued_at=oldest - timedelta(hours=24, seconds=1))
        )
    ledger.request_opt_in("h@example.com", PURPOSE)
    with pytest.raises(OptInThrottled):
        ledger.request_opt_in("h@example.com", PURPOSE)


def test_withdrawal_by_one_click_token_suppresses_and_is_idempotent(ledger: ConsentLedger) -> None:
    ledger.record(EventInput("g@example.com", PURPOSE, "granted", "form", Evidence(source="s")))
    headers = ledger.list_unsubscribe_headers("G@example.com", PURPOSE, "camp-7")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = headers["List-Unsubscribe"].split(", ")
    assert https.startswith("<https://gate.example.org/unsubscribe/") and https.endswith(">")
    assert mailto.startswith("<mailto:unsub@example.org?")
    assert "g@example.com" not in headers["List-Unsubscribe"]
    token = https[len("<https://gate.example.org/unsubscribe/") : -1]
    info = ledger.inspect_token(token)
    assert (info.kind, info.campaign_id) == ("unsubscribe", "camp-7")
    event = ledger.withdraw(token, evidence=Evidence(ip="192.0.2.9"))
    assert event is not None and event.action == "withdrawn"
    assert ledger.withdraw(token) is None
    assert ledger.is_suppressed("g@example.com") == "withdrawn"
    [state] = ledger.state("g@example.com")
    assert (state.status, state.valid) == ("withdrawn", False)
    assert ledger.timeline("g@example.com").events[-1].campaign_id == "camp-7"
    with pytest.raises(Suppressed):
        ledger.record(EventInput("g@example.com", PURPOSE, "granted", "api"))
    # The person subscribing again by double opt-in lifts their own withdrawal.
    again = ledger.request_opt_in("g@example.com", PURPOSE)
    ledger.confirm_opt_in(again.token)
    assert ledger.is_suppressed("g@example.com") is None


def test_complaints_and_hard_bounces_suppress(ledger: ConsentLedger) -> None:
    for address, method in (("h@example.com", "complaint"), ("i@example.com", "hard-bounce")):
        ledger.record(EventInput(address, PURPOSE, "granted", "api", Evidence(source="crm")))
        ledger.record(EventInput(address, PURPOSE, "withdrawn", method))
        assert ledger.is_suppressed(address) == method


def test_erasure_shreds_personal_data_and_keeps_suppression(ledger: ConsentLedger) -> None:
    address, ip = "secret.person@example.com", "203.0.113.77"
    ledger.add_purpose("product-news", "Product news", repermission_months=12)
    ledger.record(
        EventInput(
            address,
            PURPOSE,
            "granted",
            "form",
            Evidence(ip=ip, user_agent="Agent/1", source="shop"),
            name="Samira Quintanilla",
        )
    )
    ledger.request_opt_in(address, "product-news", Evidence(ip=ip))
    ledger.make_signed_tree_head()
    erased = ledger.erase(address, actor="dpo@example.org")
    assert erased is not None and erased.action == "erased"
    assert ledger.erase(address) is None
    assert ledger.verify().ok
    timeline = ledger.timeline(address)
    assert timeline.erased and timeline.email is None
    assert all(e.personal in ("erased", None) for e in timeline.events)
    assert {s.status for s in timeline.states} == {"erased"}
    with pytest.raises(Suppressed) as caught:
        ledger.record(EventInput(address, PURPOSE, "granted", "api"))
    assert caught.value.reason == "erased"
    with pytest.raises(Suppressed):
        ledger.request_opt_in(address, PURPOSE)
    with ledger.database.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                blob = repr(tuple(row)).lower()
                # Needles long enough that no base64 hash or signature contains one by chance.
                for needle in (address, ip, "secret.person", "agent/1", "samira quintanilla"):
                    assert needle not in blob, f"{needle!r} found in {table}"


def test_erasure_leaves_no_key_or_address_ciphertext_in_the_sqlite_files(
    sqlite_ledger: ConsentLedger,
) -> None:
    ledger = sqlite_ledger
    target = "shred.me@example.com"
    ledger.record(EventInput(target, PURPOSE, "granted", "form", Evidence(source="shop")))
    # Neighbours share the target's pages, so those pages live on after the delete.
    ledger.record_many(
        [EventInput(f"n{i}@example.com", PURPOSE, "granted", "import") for i in range(300)]
    )
    subject = ledger.subject_id(target)
    with ledger.database.engine.connect() as conn:
        wrapped = conn.execute(
            select(subject_keys.c.wrapped_key).where(subject_keys.c.hmac == subject)
        ).scalar_one()
        sealed = conn.execute(
            select(subjects.c.email_ciphertext).where(subjects.c.hmac == subject)
        ).scalar_one()
    path = sqlite_file(ledger.database.url)
    assert path is not None

    def stored_bytes() -> bytes:
        files = (path, path.with_name(path.name + "-wal"))
        return b"".join(f.read_bytes() for f in files if f.exists())

    assert wrapped in stored_bytes() and sealed in stored_bytes()
    ledger.erase(target)
    remaining = stored_bytes()
    assert wrapped not in remaining
    assert sealed not in remaining
    assert ledger.verify().ok


def test_state_and_timeline_of_unknown_address(ledger: ConsentLedger) -> None:
    assert ledger.state("nobody@example.com") == []
    with pytest.raises(SubjectNotFound):
        ledger.timeline("nobody@example.com")
    with pytest.raises(SubjectNotFound):
        ledger.proof("nobody@example.com")


def test_purposes_and_texts_registry(ledger: ConsentLedger) -> None:
    ledger.add_purpose("sms", "Text messages", repermission_months=6)
    assert {p.name: p.repermission_months for p in ledger.purposes()} == {PURPOSE: 24, "sms": 6}
    with pytest.raises(InvalidInput):
        ledger.add_purpose("sms")
    with pytest.raises(InvalidInput):
        ledger.add_purpose("Bad Name")
    first = ledger.add_consent_text("sms", "1", "en-GB", "We text you.")
    assert first.language == "en-GB" and len(first.sha256) == 64
    with pytest.raises(InvalidInput):
        ledger.add_consent_text("sms", "1", "en-GB", "Changed words.")
    with pytest.raises(InvalidInput):
        ledger.add_consent_text("sms", "2", "xx-QQ", "Words.")
    with pytest.raises(UnknownPurpose):
        ledger.add_consent_text("fax", "1", "en", "Words.")
    assert [t.version for t in ledger.consent_texts("sms")] == ["1"]


@pytest.mark.slow
def test_eligibility_is_set_based_with_a_reason_for_each(ledger: ConsentLedger) -> None:
    base = [f"user{i}@example.com" for i in range(10_000)]
    ledger.record_many(
        [EventInput(a, PURPOSE, "granted", "import", Evidence(source="crm")) for a in base[:6000]]
    )
    ledger.record_many(
        [EventInput(a, PURPOSE, "granted", "import") for a in base[6000:7000]]  # no evidence
    )
    ledger.record_many([EventInput(a, PURPOSE, "requested", "form") for a in base[7000:7500]])
    ledger.record_many([EventInput(a, PURPOSE, "withdrawn", "admin") for a in base[100:200]])
    ledger.record(EventInput(base[0], PURPOSE, "withdrawn", "complaint"))
    ledger.erase(base[1])
    old = db.utcnow() - timedelta(days=800)
    ledger.record_many(
        [
            EventInput(a, PURPOSE, "granted", "api", Evidence(source="x"), occurred_at=old)
            for a in base[8000:8100]
        ]
    )
    subject_ids = [ledger.subject_id(a) for a in base[2:5]]
    not_an_id = "z" * 64
    audience = [*base, *subject_ids, "broken@", "Another@Example.com", not_an_id]
    audience.append(subject_ids[1].upper())
    result = ledger.eligibility(audience, PURPOSE)
    reasons = result.excluded
    assert base[2] in result.eligible and subject_ids[0] in result.eligible
    assert reasons[base[0]] == "suppressed" or reasons[base[0]] == "withdrawn"
    assert reasons[base[1]] == "erased"
    assert reasons[base[150]] == "withdrawn"
    assert reasons[base[6500]] == "no-evidence"
    assert reasons[base[7200]] == "unconfirmed"
    assert reasons[base[8050]] == "expired"
    assert reasons[base[9000]] == "no-consent"
    assert reasons["broken@"] == "no-consent"
    assert reasons[not_an_id] == "no-consent"
    assert reasons[subject_ids[1].upper()] == "no-consent"  # ids are lower-case hex
    assert len(result.eligible) == 6000 - 102 + 3
    assert len(result.eligible) + len(reasons) == len(audience)
    lenient = ledger.eligibility(base[6000:6010], PURPOSE, allow_without_evidence=True)
    assert lenient.eligible == lenient.flagged == frozenset(base[6000:6010])
    with pytest.raises(UnknownPurpose):
        ledger.eligibility(base[:1], "nope")


def test_re_permission_expires_old_consent_per_purpose(ledger: ConsentLedger) -> None:
    ledger.add_purpose("short", "Short-lived", repermission_months=1)
    now = db.utcnow()
    ledger.record(
        EventInput(
            "old@example.com",
            PURPOSE,
            "granted",
            "api",
            Evidence(source="s"),
            occurred_at=now - timedelta(days=800),
        )
    )
    ledger.record(EventInput("new@example.com", PURPOSE, "granted", "api", Evidence(source="s")))
    ledger.record(
        EventInput(
            "new@example.com",
            "short",
            "granted",
            "api",
            Evidence(source="s"),
            occurred_at=now - timedelta(days=40),
        )
    )
    assert ledger.expire_stale_consents() == 2
    assert ledger.expire_stale_consents() == 0
    states = {(s.purpose, s.status) for s in ledger.state("new@example.com")}
    assert states == {(PURPOSE, "active"), ("short", "expired")}
    [old] = ledger.state("old@example.com")
    assert old.status == "expired" and not old.valid
    with ledger.database.session() as session:
        actions = session.execute(select(events.c.action).order_by(events.c.seq)).scalars().all()
    assert actions[-2:] == ["expired", "expired"]
    assert ledger.verify().ok


def test_confirm_without_request_and_after_withdrawal_is_illegal(ledger: ConsentLedger) -> None:
    request = ledger.request_opt_in("j@example.com", PURPOSE)
    ledger.record(EventInput("j@example.com", PURPOSE, "withdrawn", "admin"))
    with pytest.raises(IllegalTransition, match="without a pending request"):
        ledger.confirm_opt_in(request.token)


def test_aware_timestamps_round_trip(ledger: ConsentLedger) -> None:
    moment = datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    event = ledger.record(
        EventInput(
            "k@example.com", PURPOSE, "granted", "api", Evidence(source="s"), occurred_at=moment
        )
    )
    assert event.occurred_at == moment
    assert ledger.timeline("k@example.com").events[0].occurred_at == moment
    assert ledger.verify().ok


@pytest.mark.parametrize(
    "address",
    [
        "Plain@Example.COM", "first.last+tag@sub.example.co.uk", "o'hara@example.ie",
        "x@localhost", "a..b@example.com", ".a@example.com", "a.@example.com", "a@b",
        "user@exa_mple.com", "user@-example.com", "user@example..com", "Name <a@example.com>",
        "\"quoted\"@example.com", "müller@example.de", "user@bücher.de", "a@[192.0.2.1]",
        "x" * 64 + "@example.com", "x" * 65 + "@example.com",
        "a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 61 + ".com",
        "user@example.com.", "postmaster@example.invalid", "user@123.123.123.123",
        "user@xn--bcher-kva.de", "USER@EXAMPLE.ORG ",
    ],
)  # fmt: skip
def test_normalization_matches_email_validator(address: str) -> None:
    import email_validator

    from consent import normalize_email

    try:
        expected = email_validator.validate_email(
            address.strip(), check_deliverability=False
        ).normalized.lower()
    except email_validator.EmailNotValidError:
        with pytest.raises(InvalidEmail):
            normalize_email(address)
    else:
        assert normalize_email(address) == expected


def test_timeline_serialises_to_json(ledger: ConsentLedger) -> None:
    import json

    from consent import jsonable

    ledger.record(EventInput("m@example.com", PURPOSE, "granted", "api", Evidence(source="s")))
    document = json.loads(json.dumps(jsonable(ledger.timeline("m@example.com"))))
    assert document["email"] == "m@example.com"
    assert document["states"][0]["status"] == "active"
    assert document["events"][0]["occurred_at"].endswith("Z")
    eligibility = jsonable(ledger.eligibility(["m@example.com", "n@example.com"], PURPOSE))
    assert eligibility["eligible"] == ["m@example.com"]
    assert eligibility["excluded"] == {"n@example.com": "no-consent"}
