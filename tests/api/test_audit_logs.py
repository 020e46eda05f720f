"""No personal data in application logs: search values live in the audit store only."""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from tests.api.conftest import FHIR_JSON, patient

NAME = "ヤマダタロウ"
BIRTHDATE = "1970-04-01"


def _forms(value: str) -> list[str]:
    """The value as a log line might spell it: raw, percent-encoded, base64."""
    return [value, quote(value), quote(value).lower(), base64.b64encode(value.encode()).decode()]


def test_searches_by_name_leave_no_personal_data_in_logs(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    client.post("/fhir/Patient", json=patient(NAME, birthDate=BIRTHDATE), headers=FHIR_JSON)
    with caplog.at_level(logging.DEBUG):
        found = client.get(f"/fhir/Patient?name={NAME}&birthdate={BIRTHDATE}")
        assert found.status_code == 200
        assert len(found.json()["entry"]) == 1
        bad = client.get(f"/fhir/Patient?birthdate=x{NAME}")  # refused, value echoed to caller
        assert bad.status_code == 400
        client.post("/fhir/Patient/_search", data={"name": NAME})
    # Everything the server logged (the test's own HTTP client logs its URLs: not the server).
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert server, "the request log should have lines"
    text = "\n".join(record.getMessage() for record in server)
    assert "/fhir/Patient" in text
    for value in (NAME, BIRTHDATE):
        for form in _forms(value):
            assert form not in text, f"{form!r} found in the application log"
