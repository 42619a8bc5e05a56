"""The generation answer: schema strictness, and every check that drops a record."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from jobs.coherence import contradicts, polarity
from jobs.errors import InvalidAnswer
from jobs.load import copy_text
from jobs.records import (
    COMMENT_MAX_CHARS,
    ResponseRow,
    answer_items,
    batch_schema,
    build_record_model,
    check_answer,
    normalise_comment,
)
from jobs.scenario import Case

CHANNELS = ["phone", "email", "chat"]
TYPES = ["individual", "enterprise"]
MODEL = build_record_model(CHANNELS, TYPES)
WHEN = datetime(2025, 5, 5, 12, 0, tzinfo=UTC)


def case(slot: int, nps: int, channel: str = "chat", skipped: bool = False) -> Case:
    return Case(slot, WHEN, channel, "individual", nps, "a very fast answer", skipped)


CASES = [case(101, 10), case(102, 2, "phone"), case(103, 7, "email")]
GOOD = [
    {
        "case": 1,
        "channel": "chat",
        "customer_type": "individual",
        "nps_score": 10,
        "csat_score": 5,
        "comment": "Great chat, the agent solved it in minutes.",
    },
    {
        "case": 2,
        "channel": "phone",
        "customer_type": "individual",
        "nps_score": 2,
        "csat_score": 1,
        "comment": "Terrible wait on the phone line, nobody called back.",
    },
    {
        "case": 3,
        "channel": "email",
        "customer_type": "individual",
        "nps_score": 7,
        "csat_score": 4,
        "comment": "The reply came the next day and it was complete.",
    },
]


def with_change(index: int, **changes) -> list[dict]:
    items = copy.deepcopy(GOOD)
    items[index].update(changes)
    return items


def test_the_schema_pins_every_item_and_bounds_the_free_fields():
    schema = batch_schema(CASES, MODEL)
    array = schema["properties"]["responses"]
    assert array["minItems"] == array["maxItems"] == 3
    assert "items" not in array  # llama.cpp would prefer it over prefixItems
    second = array["prefixItems"][1]
    assert second["additionalProperties"] is False
    assert set(second["required"]) == {
        "case",
        "channel",
        "customer_type",
        "nps_score",
        "csat_score",
        "comment",
    }
    props = second["properties"]
    assert props["case"] == {"type": "integer", "const": 2}
    assert props["channel"]["const"] == "phone"
    assert props["nps_score"]["const"] == 2
    assert (props["csat_score"]["minimum"], props["csat_score"]["maximum"]) == (1, 2)
    assert props["comment"]["minLength"] == 15
    assert props["comment"]["maxLength"] == COMMENT_MAX_CHARS


def test_the_record_model_carries_the_database_codes_as_enums():
    schema = MODEL.model_json_schema()["properties"]
    assert schema["channel"]["enum"] == CHANNELS
    assert schema["customer_type"]["enum"] == TYPES
    assert (schema["nps_score"]["minimum"], schema["nps_score"]["maximum"]) == (0, 10)


def test_a_good_answer_gives_one_row_per_case():
    check = check_answer(GOOD, CASES, MODEL)
    assert not check.missing and not check.dropped
    assert [row.generator_slot for row in check.rows] == [101, 102, 103]
    first = check.rows[0]
    assert first == ResponseRow(101, WHEN, "chat", "individual", 10, 5, GOOD[0]["comment"])


def test_items_are_matched_by_case_number_not_by_position():
    check = check_answer(list(reversed(GOOD)), CASES, MODEL)
    assert [row.generator_slot for row in check.rows] == [101, 102, 103]


@pytest.mark.parametrize(
    ("items", "reason"),
    [
        (with_change(0, nps_score=11), "invalid_nps_score"),
        (with_change(0, csat_score=0), "invalid_csat_score"),
        (with_change(0, nps_score="10"), "invalid_nps_score"),  # strict: a string is not a score
        (with_change(0, channel="fax"), "invalid_channel"),
        (with_change(0, customer_type="robot"), "invalid_customer_type"),
        (with_change(0, comment="ok"), "invalid_comment"),
        (with_change(0, comment="x" * 500), "invalid_comment"),
        (with_change(0, channel="phone"), "wrong_channel"),
        (with_change(0, nps_score=9), "wrong_nps_score"),
        (with_change(1, csat_score=3), "csat_contradicts_nps"),
        (
            with_change(0, comment="Terrible, the worst support I ever had."),
            "comment_contradicts_nps",
        ),
        (
            with_change(1, comment="Excellent and friendly agent, thank you!"),
            "comment_contradicts_nps",
        ),
        (with_change(0, case=9), "unknown_case"),
        (with_change(0, case="1"), "unknown_case"),
    ],
)
def test_a_bad_record_is_dropped_with_its_reason_and_asked_again(items, reason):
    check = check_answer(items, CASES, MODEL)
    assert check.dropped[reason] == 1
    assert len(check.rows) == 2
    assert len(check.missing) == 1


def test_wrong_item_counts_are_dropped_or_asked_again():
    short = check_answer(GOOD[:2], CASES, MODEL)
    assert short.dropped == {"missing_from_answer": 1}
    assert [c.slot for c in short.missing] == [103]

    extra = check_answer([*GOOD, dict(GOOD[0])], CASES, MODEL)
    assert extra.dropped == {"duplicate_case": 1}
    assert len(extra.rows) == 3

    beyond = check_answer([*GOOD, {**GOOD[0], "case": 4}], CASES, MODEL)
    assert beyond.dropped == {"unknown_case": 1}
    assert len(beyond.rows) == 3

    garbage = check_answer(["text", 3, None], CASES, MODEL)
    assert garbage.dropped == {"unknown_case": 3, "missing_from_answer": 3}


def test_a_repeated_comment_is_dropped():
    # The passive's comment may say anything; repeating another record's (in any case) is refused.
    items = with_change(2, comment=GOOD[0]["comment"].upper())
    check = check_answer(items, CASES, MODEL)
    assert check.dropped == {"duplicate_comment": 1}


def test_a_skipped_csat_is_stored_as_null():
    cases = [case(1, 10, skipped=True)]
    check = check_answer([GOOD[0]], cases, MODEL)
    assert check.rows[0].csat_score is None


def test_comments_are_cleaned_to_one_line():
    assert normalise_comment("  Good\tservice,\n\n thanks\x00\x07 ") == "Good service, thanks"
    items = with_change(0, comment="Great\nchat,\tsolved   in minutes!")
    assert check_answer(items, CASES, MODEL).rows[0].comment == "Great chat, solved in minutes!"


def test_an_answer_without_the_array_is_invalid():
    assert answer_items({"responses": [1]}) == [1]
    assert answer_items([1]) == [1]
    for bad in ({"answer": "no"}, "text", 3, None, {"responses": "x"}):
        with pytest.raises(InvalidAnswer):
            answer_items(bad)


@pytest.mark.parametrize(
    ("comment", "positive", "negative"),
    [
        ("Excellent and friendly agent", 2, 0),
        ("Terrible wait, rude agent", 0, 2),
        ("The agent was not helpful at all", 0, 1),
        ("Not bad, actually", 1, 0),
        ("It didn't feel slow", 1, 0),
        ("Solved after the second contact", 0, 0),
    ],
)
def test_polarity_counts_strong_words_and_negations(comment, positive, negative):
    found = polarity(comment)
    assert (found.positive, found.negative) == (positive, negative)


def test_only_clear_contradictions_count():
    assert contradicts("detractor", "Great, friendly and fast!")
    assert contradicts("promoter", "Awful and slow.")
    assert not contradicts("detractor", "Friendly agent but the problem is still open, awful.")
    assert not contradicts("passive", "Awful.")
    assert not contradicts("promoter", "Solved on the first contact.")


def test_copy_text_escapes_what_would_break_a_row():
    rows = [ResponseRow(1, WHEN, "chat", "individual", 9, None, "a\tb\\c\nd")]
    assert copy_text(rows) == (
        "1\t2025-05-05T12:00:00+00:00\tchat\tindividual\t9\t\\N\ta\\tb\\\\c\\nd\t\\N\n"
    )
    run = "0b6c7e2a-8f0e-4d7c-9a51-3f2f4c7d9e10"
    assert copy_text(rows, run).endswith(f"\t{run}\n")
