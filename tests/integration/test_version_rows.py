"""`version_rows.write_version_rows` on both databases: history rows, upserted pointers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tsunagu.storage.repository import StoredResource
from tsunagu.storage.sql.repository import SqlRepository
from tsunagu.storage.sql.version_rows import write_version_rows

AT = datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=UTC)


def _observation(id: str, value: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "valueQuantity": {"value": Decimal(value), "unit": "mg/dL"},
        "note": [{"text": '検査値 "引用" \\ 改行\n'}],
    }


def _write(repo: SqlRepository, versions: list[StoredResource]) -> dict[tuple[str, str], int]:
    d = repo.dialect
    with d.writer() as conn:
        return write_version_rows(d, conn, versions)


def _history(repo: SqlRepository, id: str) -> list[tuple[int, str, object]]:
    d = repo.dialect
    with d.reader() as conn:
        rows = conn.execute(
            d.sql(
                "SELECT version, method, content FROM resource_history"
                " WHERE resource_type = ? AND id = ? ORDER BY version"
            ),
            ("Observation", id),
        ).fetchall()
    return [(int(v), str(m), None if c is None else d.decode_json(c)) for v, m, c in rows]


def _pointer(repo: SqlRepository, id: str) -> tuple[int, int, bool]:
    d = repo.dialect
    with d.reader() as conn:
        row = conn.execute(
            d.sql(
                "SELECT res_key, version, deleted FROM resources WHERE resource_type = ? AND id = ?"
            ),
            ("Observation", id),
        ).fetchone()
    return int(row[0]), int(row[1]), bool(row[2])


def test_new_versions_then_an_update_and_a_deletion(repo: SqlRepository) -> None:
    first = [
        StoredResource("Observation", f"o{n}", 1, AT, "POST", _observation(f"o{n}", "0.40"))
        for n in range(3)
    ]
    keys = _write(repo, first)
    assert set(keys) == {("Observation", f"o{n}") for n in range(3)}
    assert len(set(keys.values())) == 3

    later = AT + timedelta(seconds=1)
    second = [
        StoredResource("Observation", "o0", 2, later, "PUT", _observation("o0", "1.50")),
        StoredResource("Observation", "o1", 2, later, "DELETE", None),
    ]
    again = _write(repo, second)
    # The pointers are updated in place: same res_key, new version.
    assert again == {k: keys[k] for k in (("Observation", "o0"), ("Observation", "o1"))}
    assert _pointer(repo, "o0") == (keys[("Observation", "o0")], 2, False)
    assert _pointer(repo, "o1") == (keys[("Observation", "o1")], 2, True)
    assert _pointer(repo, "o2") == (keys[("Observation", "o2")], 1, False)

    history = _history(repo, "o0")
    assert [(v, m) for v, m, _ in history] == [(1, "POST"), (2, "PUT")]
    content = history[1][2]
    assert isinstance(content, dict)
    # Decimals keep their digits; text with quotes, backslashes and newlines survives.
    assert str(content["valueQuantity"]["value"]) == "1.50"
    assert content["note"] == [{"text": '検査値 "引用" \\ 改行\n'}]
    assert str(history[0][2]["valueQuantity"]["value"]) == "0.40"  # type: ignore[index]
    # A deletion's history row has no content (SQL NULL, not a JSON null).
    assert _history(repo, "o1")[1] == (2, "DELETE", None)


def test_an_empty_batch_writes_nothing(repo: SqlRepository) -> None:
    assert _write(repo, []) == {}


def test_new_resources_get_their_keys_in_the_batch_order(repo: SqlRepository) -> None:
    """Keys order search results by default: a Bundle's new resources keep its order."""
    ids = [f"k{n:02d}" for n in (5, 1, 9, 3, 7, 0, 8, 2, 6, 4)]  # not sorted by id
    keys = _write(
        repo, [StoredResource("Observation", i, 1, AT, "POST", _observation(i, "1")) for i in ids]
    )
    assert [keys[("Observation", i)] for i in ids] == sorted(keys.values())
