"""Template scoring through the API and `sendgate score`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from flask.testing import FlaskClient

from web.cli import cli

from .conftest import bearer

LABELLED = Path(__file__).resolve().parents[1] / "data" / "labelled"
SPAMMY_HTML = (
    "<html><head><title>Deals</title></head><body><p>Thanksgiving deals! Click here to claim "
    "your FREE prize now!!!</p></body></html>"
)


def test_score_api_explains_and_locates_hits(client: FlaskClient, make_token) -> None:
    response = client.post(
        "/api/v1/templates/score",
        headers=bearer(make_token("marketer")),
        json={
            "subject": "FREE!!! Thanksgiving deals",
            "html": SPAMMY_HTML,
            "countries": ["de", "US"],
            "send_at": "2026-11-26T03:00:00+00:00",
        },
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["verdict"] == "block"
    assert body["score"] >= body["threshold"]
    assert body["language"] == "en"
    subject_hits = [h for h in body["hits"] if h["location"] and h["location"]["part"] == "subject"]
    assert subject_hits and all(h["message"] and h["evidence"] for h in subject_hits)
    codes = {(f["code"], tuple(f["countries"])) for f in body["findings"]}
    assert ("REGION_HOLIDAY_NOT_OBSERVED", ("DE",)) in codes
    assert any(code == "LEGAL_US_POSTAL_ADDRESS_MISSING" for code, _ in codes)


def test_score_api_rejects_bad_input_precisely(client: FlaskClient, make_token) -> None:
    auth = bearer(make_token("marketer"))
    unknown = client.post(
        "/api/v1/templates/score",
        headers=auth,
        json={"subject": "Hi", "text": "Hello", "countries": ["UK"]},
    )
    assert unknown.status_code == 422
    assert "'UK' (did you mean 'GB'?)" in unknown.get_json()["detail"]
    naive = client.post(
        "/api/v1/templates/score",
        headers=auth,
        json={"subject": "Hi", "text": "Hello", "send_at": "2026-11-26T03:00:00"},
    )
    assert naive.status_code == 422
    assert naive.get_json()["errors"][0]["field"] == "send_at"
    empty = client.post("/api/v1/templates/score", headers=auth, json={})
    assert empty.status_code == 422


def test_score_api_accepts_a_whole_message(client: FlaskClient, make_token) -> None:
    eml = (LABELLED / "en" / "ham-01-newsletter.eml").read_text(encoding="utf-8")
    response = client.post(
        "/api/v1/templates/score",
        headers=bearer(make_token("compliance")),
        json={"eml": eml, "countries": ["US"]},
    )
    assert response.status_code == 200
    assert response.get_json()["verdict"] in {"pass", "warn"}


def test_cli_scores_several_files_in_one_process(tmp_path: Path) -> None:
    html = tmp_path / "offer.html"
    html.write_text(SPAMMY_HTML, encoding="utf-8")
    ham = LABELLED / "en" / "ham-01-newsletter.eml"
    result = CliRunner().invoke(
        cli,
        ["score", str(ham), str(html), "--subject", "FREE!!! deals", "--country", "US", "--json"],
    )
    assert result.exit_code == 1  # the second file is blocked
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["file"] for line in lines] == [str(ham), str(html)]
    assert lines[1]["verdict"] == "block"
    assert {"score", "threshold", "verdict", "language", "hits", "findings"} <= set(lines[0])


def test_cli_usage_errors(tmp_path: Path) -> None:
    page = tmp_path / "page.pdf"
    page.write_bytes(b"%PDF")
    wrong_type = CliRunner().invoke(cli, ["score", str(page)])
    assert wrong_type.exit_code == 2 and ".eml" in wrong_type.output
    html = tmp_path / "a.html"
    html.write_text("<p>hi</p>")
    naive = CliRunner().invoke(cli, ["score", str(html), "--send-at", "2026-11-26T03:00"])
    assert naive.exit_code == 2 and "needs a UTC offset" in naive.output
