"""CSV import: row checks with line numbers, evidence flags, idempotence, file-level errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from consent import ConsentLedger, EventInput, Evidence, ImportFormatError, InvalidInput
from consent.importer import MAX_LINE_BYTES, check_language_tag
from consent.models import events

PURPOSE = "marketing-email"


def _events(ledger: ConsentLedger) -> int:
    with ledger.database.session() as session:
        return int(session.execute(select(func.count()).select_from(events)).scalar_one())


def _write(tmp_path: Path, body: str | bytes, name: str = "list.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(body.encode("utf-8") if isinstance(body, str) else body)
    return path


HEADER = "\ufeffEmail,consented_at,source,ip,consent_text_version,country,language,timezone,"
GOOD = (
    HEADER
    + """shoe_size
ann@example.com,2025-03-01T10:00:00+01:00,webshop,192.0.2.1,v1,DE,de-DE,Europe/Berlin,38
ben@example.com,,,,,,,,
not-an-email,2025-03-01,webshop,,,,,,
cai@example.com,2099-01-01,webshop,,,,,,
dan@example.com,2025-03-01,webshop,999.1.1.1,,,,,
eve@example.com,2025-03-01,webshop,,v7,,,,
fay@example.com,2025-03-01,webshop,,,XX,,,
gus@example.com,2025-03-01,webshop,,,,klingon-x,,
hal@example.com,2025-03-01,webshop,,,,,Mars/Olympus,
ivy@example.com,yesterday,webshop,,,,,,
ann@example.com,2025-03-01T10:00:00+01:00,webshop,192.0.2.1,v1,DE,de-DE,Europe/Berlin,38
jo@example.com,2025-03-02,fair
"ken@example.com","2025-03-02","fair, booth 4",,,fr,fr-CA,America/Toronto,
"""
)


def test_import_reports_each_rejected_line(ledger: ConsentLedger, tmp_path: Path) -> None:
    ledger.add_consent_text(PURPOSE, "v1", "de-DE", "Wir schreiben Ihnen.")
    result = ledger.import_csv(_write(tmp_path, GOOD), PURPOSE)
    reasons = {row.line: row.reason for row in result.rejected}
    assert sorted(reasons) == [4, 5, 6, 7, 8, 9, 10, 11, 13]
    assert reasons[4].startswith("email:")
    assert "future" in reasons[5]
    assert reasons[6].startswith("ip:")
    assert reasons[7].startswith("consent_text_version:")
    assert reasons[8].startswith("country:")
    assert reasons[9].startswith("language:")
    assert reasons[10].startswith("timezone:")
    assert reasons[11].startswith("consented_at:")
    assert "fields" in reasons[13]
    assert (result.accepted, result.duplicates, result.without_evidence) == (3, 1, 1)
    assert result.ignored_columns == ["shoe_size"]
    assert result.as_dict()["rejected"][0] == {"line": 4, "reason": reasons[4]}

    ann = ledger.timeline("ann@example.com")
    assert (ann.country, ann.language, ann.timezone) == ("DE", "de-DE", "Europe/Berlin")
    assert ann.events[0].has_evidence and ann.events[0].text_id is not None
    assert ann.events[0].personal == {"email": "ann@example.com", "ip": "192.0.2.1"}
    ben = ledger.timeline("ben@example.com")
    assert not ben.events[0].has_evidence and not ben.states[0].has_evidence
    assert not ben.states[0].valid
    assert ledger.timeline("ken@example.com").events[0].source == "fair, booth 4"


def test_reimport_is_idempotent_and_suppressed_are_refused(
    ledger: ConsentLedger, tmp_path: Path
) -> None:
    body = "email,consented_at,source\nx@example.com,2025-01-01,crm\ny@example.com,2025-01-01,crm\n"
    first = ledger.import_csv(_write(tmp_path, body), PURPOSE)
    count = _events(ledger)
    again = ledger.import_csv(_write(tmp_path, body), PURPOSE)
    assert (first.accepted, again.accepted, again.duplicates) == (2, 0, 2)
    assert _events(ledger) == count
    ledger.record(EventInput("x@example.com", PURPOSE, "withdrawn", "one-click-unsubscribe"))
    ledger.erase("y@example.com")
    refused = ledger.import_csv(_write(tmp_path, body), PURPOSE)
    assert [(r.line, r.reason) for r in refused.rejected] == [
        (2, "address is suppressed (withdrawn)"),
        (3, "address is suppressed (erased)"),
    ]
    assert ledger.verify().ok


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (b"", 1, "empty"),
        (b"name,source\nann,x\n", 1, "no 'email' column"),
        (b"email,email\na@example.com,b\n", 1, "repeats"),
        (b"email,source\na@example.com,M\xfcnchen\n", 2, "UTF-8"),
        (b"email\na@example.com\n" + b"b" * (MAX_LINE_BYTES + 10) + b"\n", 3, "longer than"),
        (b"email\na@exa\x00mple.com\n", 2, "NUL"),
    ],
)
def test_unusable_files_are_refused_whole(
    ledger: ConsentLedger, tmp_path: Path, body: bytes, line: int, message: str
) -> None:
    with pytest.raises(ImportFormatError) as caught:
        ledger.import_csv(_write(tmp_path, body), PURPOSE)
    assert caught.value.line == line
    assert message in caught.value.message
    assert _events(ledger) == 0


def test_ten_megabyte_line_is_refused_without_reading_it_whole(
    sqlite_ledger: ConsentLedger, tmp_path: Path
) -> None:
    body = b"email\nok@example.com\n" + b"x" * (10 * 1024 * 1024) + b"\n"
    with pytest.raises(ImportFormatError) as caught:
        sqlite_ledger.import_csv(_write(tmp_path, body), PURPOSE)
    assert caught.value.line == 3
    assert _events(sqlite_ledger) == 0


def test_batches_commit_separately_and_a_failed_batch_leaves_nothing(
    sqlite_ledger: ConsentLedger, tmp_path: Path
) -> None:
    rows = "".join(f"p{i}@example.com,2025-01-01,crm\n" for i in range(25))
    result = sqlite_ledger.import_csv(
        _write(tmp_path, "email,consented_at,source\n" + rows), PURPOSE, batch_size=10
    )
    assert result.accepted == 25 and _events(sqlite_ledger) == 25
    with pytest.raises(ImportFormatError):
        sqlite_ledger.import_csv(io.StringIO("email\n"), PURPOSE)  # type: ignore[arg-type]
    assert sqlite_ledger.import_csv(io.BytesIO(b"email\nq@example.com\n"), PURPOSE).accepted == 1


def test_a_crash_inside_a_batch_leaves_none_of_it(
    sqlite_ledger: ConsentLedger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consent import log

    real_append = log.append
    calls = {"n": 0}

    def crash_on_second_batch(session, rows, recorded_at):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        first = real_append(session, rows, recorded_at)
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        return first

    monkeypatch.setattr(log, "append", crash_on_second_batch)
    rows = "".join(f"c{i}@example.com,2025-01-01,crm\n" for i in range(15))
    with pytest.raises(RuntimeError, match="power cut"):
        sqlite_ledger.import_csv(
            _write(tmp_path, "email,consented_at,source\n" + rows), PURPOSE, batch_size=10
        )
    assert _events(sqlite_ledger) == 10
    assert sqlite_ledger.state("c9@example.com") and not sqlite_ledger.state("c10@example.com")
    monkeypatch.undo()
    assert sqlite_ledger.verify().ok


def test_unknown_purpose_and_missing_file(sqlite_ledger: ConsentLedger, tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match="cannot open"):
        sqlite_ledger.import_csv(tmp_path / "missing.csv", PURPOSE)
    from consent import UnknownPurpose

    with pytest.raises(UnknownPurpose):
        sqlite_ledger.import_csv(_write(tmp_path, "email\na@example.com\n"), "nope")


@pytest.mark.parametrize(
    ("tag", "canonical"),
    [
        ("en", "en"),
        ("DE-ch", "de-CH"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("es-419", "es-419"),
        ("sl-rozaj", "sl-rozaj"),
        ("en-US-x-twain", "en-US-x-twain"),
    ],
)
def test_language_tags(tag: str, canonical: str) -> None:
    assert check_language_tag(tag) == canonical


@pytest.mark.parametrize("tag", ["", "e", "english", "qq", "en-Qqqq", "en-QQ", "en_US"])
def test_bad_language_tags(tag: str) -> None:
    from consent import InvalidInput

    with pytest.raises(InvalidInput):
        check_language_tag(tag)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("0.0.0.0", "0.0.0.0"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::ffff:192.0.2.1", "::ffff:c000:201"),
        ("192.0.2.010", None),
        ("192.0.2", None),
        ("3232235521", None),
        ("192.0.2.1 ", "192.0.2.1"),
        ("fe80::1%eth0", "fe80::1%eth0"),
    ],
)
def test_ip_addresses_are_stored_in_canonical_form(
    ledger: ConsentLedger, tmp_path: Path, raw: str, stored: str | None
) -> None:
    body = f'email,consented_at,source,ip\nip@example.com,2025-03-01,form,"{raw}"\n'
    result = ledger.import_csv(_write(tmp_path, body), PURPOSE)
    if stored is None:
        assert [(r.line, r.reason.split(":")[0]) for r in result.rejected] == [(2, "ip")]
        with pytest.raises(InvalidInput) as caught:
            ledger.record(
                EventInput("ip2@example.com", PURPOSE, "granted", "api", Evidence(ip=raw))
            )
        assert caught.value.field == "evidence.ip"
        return
    assert result.accepted == 1
    assert ledger.timeline("ip@example.com").events[0].personal["ip"] == stored
    ledger.record(EventInput("ip2@example.com", PURPOSE, "granted", "api", Evidence(ip=raw)))
    assert ledger.timeline("ip2@example.com").events[0].personal["ip"] == stored
