"""The row validator alone (pure): its fast path accepts exactly what the full check accepts,
with the same result, and the full check's messages name line, column and value."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from jobs.importing.formats import FIELDS, Mapping, read_layout
from jobs.importing.reader import Record
from jobs.importing.validate import ImportRow, RowValidator

CHANNELS = {"phone": "Phone", "email": "Email", "chat": "Live chat"}
TYPES = {"individual": "Individual", "enterprise": "Enterprise"}


def validator(zone: str = "America/Sao_Paulo") -> RowValidator:
    layout = read_layout("npscsat", iter([Record(1, list(FIELDS))]), Mapping(), file_name="x")
    return RowValidator(
        layout,
        channels=CHANNELS,
        customer_types=TYPES,
        business_timezone=ZoneInfo(zone),
        now=datetime(2026, 12, 31, tzinfo=UTC),
    )


def text_like(*examples: str) -> st.SearchStrategy[str]:
    """The values a real file holds, and some that are almost right."""
    return st.one_of(
        st.sampled_from(examples),
        st.sampled_from(examples).map(lambda v: f" {v} "),
        st.sampled_from(examples).map(str.upper),
        st.text(max_size=8),
    )


fields = st.tuples(
    text_like("T-1", "4711", "", "a\tb", "\xa0x"),
    text_like("2025-11-02T09:14:00-03:00", "2025-11-02 09:14", "2025-11-02", "2027-01-01", "x"),
    text_like("chat", "Live chat", "email", "fax"),
    text_like("individual", "Enterprise", "alien"),
    text_like("", "0", "9", "10", "11", "7.0", "-1"),
    text_like("", "1", "5", "0", "6"),
    text_like("", "Fine.", "a\r\nb", " padded ", "x" * 1001),
).map(list)


@given(fields)
def test_the_fast_path_agrees_with_the_full_check(values):
    check = validator()
    record = Record(7, values)
    fast = check._fast(record)
    full = check.full_check(record)
    if fast is not None:
        assert fast == full  # anything the fast path accepts, the full check accepts alike
    if isinstance(full, ImportRow):
        assert check.check(record) == full


def test_messages_name_the_line_the_column_and_the_value():
    check = validator()
    row = ["T-1", "2025-11-02T09:14:00Z", "fax", "individual", "11", "", "ok"]
    problems = check.check(Record(17, row))
    assert [p.message for p in problems][:2] == [
        'line 17, nps_score: "11" is not between 0 and 10',
        'line 17, channel: "fax" is not a known channel; known codes: phone, email, chat '
        "(add one with `python -m jobs channels add CODE LABEL`)",
    ]


def test_a_timestamp_without_offset_is_read_in_the_business_time_zone():
    row = validator("America/Sao_Paulo").check(
        Record(2, ["T-1", "2025-11-30 23:30", "chat", "individual", "9", "", ""])
    )
    assert row.responded_at.astimezone(UTC) == datetime(2025, 12, 1, 2, 30, tzinfo=UTC)
    assert row.comment is None and row.csat_score is None


def test_a_file_name_becomes_a_source_name():
    from npscsat.sources import import_source, source_name_from_file

    assert source_name_from_file("/exports/Zendesk CSAT 2025.csv.gz") == "zendesk-csat-2025"
    assert source_name_from_file("responses.csv") == "responses"
    assert import_source("zendesk") == "import:zendesk"
