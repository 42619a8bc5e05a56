"""The generation answer: its shape (nothing echoed), schema strictness, tolerant reading of a
broken answer, and every check that drops a record."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from jobs.coherence import contradicts, polarity
from jobs.comments import NearDuplicates, RunRepeats, is_sentence, normalise, problem
from jobs.errors import InvalidAnswer
from jobs.load import copy_text
from jobs.records import (
    COMMENT_MAX_CHARS,
    KEPT,
    NOT_WRITTEN,
    ResponseRow,
    batch_schema,
    parse_answer,
    read_answer,
    token_budget,
)
from jobs.scenario import Case

WHEN = datetime(2025, 5, 5, 12, 0, tzinfo=UTC)


def case(slot: int, category: str, *, comment: bool = True, skipped: bool = False) -> Case:
    return Case(
        slot=slot,
        responded_at=WHEN,
        channel="chat",
        customer_type="individual",
        category=category,
        mood="annoyed",
        topic="a very fast answer",
        style="brief",
        wants_comment=comment,
        csat_skipped=skipped,
    )


CASES = [case(101, "promoter"), case(102, "detractor"), case(103, "passive", comment=False)]
GOOD = [
    {"nps": 10, "csat": 5, "comment": "Great chat, the agent solved it in minutes."},
    {"nps": 2, "csat": 1, "comment": "Terrible wait on the phone line, nobody called back."},
    {"nps": 7, "csat": 4},
]


def rec(nps, csat, comment=None, **extra) -> dict:
    record = {"nps": nps, "csat": csat, **extra}
    if comment is not None:
        record["comment"] = comment
    return record


def answer(items) -> str:
    return json.dumps({"answers": items})


def check(items, cases=CASES, **kwargs):
    return read_answer(answer(items), cases, **kwargs)


def with_change(index: int, value) -> list:
    items = [dict(item) for item in GOOD]
    items[index] = value
    return items


def test_the_schema_echoes_nothing_the_job_knows_and_bounds_what_the_model_writes():
    schema = batch_schema(CASES)
    array = schema["properties"]["answers"]
    assert array["minItems"] == array["maxItems"] == 3
    assert "items" not in array  # llama.cpp would prefer it over prefixItems
    promoter, detractor, passive = array["prefixItems"]
    assert promoter == {
        "type": "object",
        "properties": {
            "nps": {"type": "integer", "enum": [9, 10]},
            "csat": {"type": "integer", "enum": [4, 5]},
            "comment": {"type": "string", "minLength": 15, "maxLength": COMMENT_MAX_CHARS},
        },
        "required": ["nps", "csat", "comment"],
        "additionalProperties": False,
    }
    assert detractor["properties"]["nps"]["enum"] == list(range(0, 7))
    assert detractor["properties"]["csat"]["enum"] == [1, 2, 3]
    # No comment asked: two scores only, at a few tokens.
    assert passive["properties"] == {
        "nps": {"type": "integer", "enum": [7, 8]},
        "csat": {"type": "integer", "enum": [3, 4, 5]},
    }
    assert passive["required"] == ["nps", "csat"]
    text = json.dumps(schema)
    for pinned in ("chat", "individual", "101", "case", "const", "channel", "topic"):
        assert pinned not in text


def test_the_token_cap_grows_with_the_batch_and_its_comments():
    assert token_budget(CASES[2:]) < token_budget(CASES[:1])
    assert token_budget(CASES * 2) > token_budget(CASES)
    assert token_budget(CASES) < 400  # a runaway answer stops early


def test_a_good_answer_gives_one_row_per_case_by_position():
    result = check(GOOD)
    assert not result.missing and not result.dropped
    assert result.outcomes == [KEPT, KEPT, KEPT]
    assert result.rows == [
        ResponseRow(101, WHEN, "chat", "individual", 10, 5, GOOD[0]["comment"]),
        ResponseRow(102, WHEN, "chat", "individual", 2, 1, GOOD[1]["comment"]),
        ResponseRow(103, WHEN, "chat", "individual", 7, 4, None),
    ]
    assert result.written == 3


SOLVED = "Great chat, the agent solved it."
LATE = "The agent never called me back."


@pytest.mark.parametrize(
    ("index", "value", "reason"),
    [
        (0, rec(11, 5, SOLVED), "invalid_nps_score"),
        (0, rec(10, 0, SOLVED), "invalid_csat_score"),
        (0, rec("10", 5, SOLVED), "invalid_nps_score"),  # strict: a string is not a score
        (0, rec(10, 5, "ok"), "invalid_comment"),
        (0, rec(10, 5, "x " * 300), "invalid_comment"),
        (0, rec(8, 5, SOLVED), "nps_outside_band"),
        (1, rec(9, 1, LATE), "nps_outside_band"),
        (1, rec(2, 4, LATE), "csat_outside_band"),
        (0, rec(10, 5), "incomplete_record"),  # the comment was asked for
        (0, {"nps": 10}, "incomplete_record"),
        (0, [10, 5, SOLVED], "wrong_shape"),
        (0, rec(10, 5, SOLVED, channel="chat"), "wrong_shape"),
        (0, rec(10, 5, "Terrible, the worst support I ever had."), "comment_contradicts_nps"),
        (1, rec(2, 1, "Excellent and friendly agent, thank you!"), "comment_contradicts_nps"),
        (0, rec(10, 5, "A friendly agent who knew the product well...},{"), "comment_markup"),
        (1, rec(3, 1, "4.3, product review/product improvement"), "comment_not_a_sentence"),
        (0, rec(10, 5, "A very fast answer."), "comment_copies_topic"),
    ],
)
def test_a_bad_record_is_dropped_with_its_reason_and_asked_again(index, value, reason):
    result = check(with_change(index, value))
    assert result.dropped == {reason: 1}
    assert len(result.rows) == 2
    assert [c.slot for c in result.missing] == [CASES[index].slot]
    assert result.written == 3


def test_missing_and_extra_records():
    short = check(GOOD[:2])
    assert short.dropped == {}  # not written is not dropped ...
    assert short.outcomes[2] == NOT_WRITTEN
    assert [c.slot for c in short.missing] == [103]  # ... but asked again
    assert short.written == 2

    extra = check([*GOOD, rec(9, 5)])
    assert extra.dropped == {"extra_record": 1}
    assert len(extra.rows) == 3 and extra.written == 4


def test_a_comment_nobody_asked_for_keeps_its_scores_not_its_text():
    result = check(with_change(2, rec(8, 5, "Fine, the reply came the next day.")))
    assert result.rows[2].comment is None and result.rows[2].nps_score == 8


def test_near_copies_in_one_answer_are_dropped():
    cases = [case(1, "promoter"), case(2, "promoter"), case(3, "promoter")]
    items = [
        rec(10, 5, "The agent was very helpful and fixed it."),
        rec(9, 5, "The agent was very helpful and fixed it quickly!"),
        rec(10, 4, "Solved on the first call, I am impressed."),
    ]
    result = check(items, cases)
    assert result.dropped == {"near_duplicate_comment": 1}
    assert [c.slot for c in result.missing] == [2]


def test_long_comments_repeated_across_answers_are_dropped_short_ones_may_repeat():
    repeats = RunRepeats()
    cases = [case(1, "promoter"), case(2, "promoter")]
    long = "The agent stayed on the line until the router worked again."
    first = check(
        [rec(10, 5, long), rec(9, 5, "Great service, thanks!")], cases, run_comments=repeats
    )
    again = check(
        [rec(9, 5, long.replace(".", "!")), rec(10, 4, "Great service, thanks!")],
        cases,
        run_comments=repeats,
    )
    assert first.dropped == {}
    assert again.dropped == {"repeated_comment": 1}
    assert [row.comment for row in again.rows] == ["Great service, thanks!"]


def test_a_skipped_csat_is_stored_as_null():
    result = check([GOOD[0]], [case(1, "promoter", skipped=True)])
    assert result.rows[0].csat_score is None


def test_comments_are_cleaned_to_one_line():
    assert normalise("  Good\tservice,\n\n thanks\x00\x07 ") == "Good service, thanks"
    result = check(with_change(0, rec(10, 5, "Great\u2028chat,\tsolved   in minutes!")))
    assert result.rows[0].comment == "Great chat, solved in minutes!"


def test_a_truncated_answer_keeps_its_complete_records():
    content = answer(GOOD)
    cut = content[: content.index("nobody")]  # inside the second record's comment
    result = read_answer(cut, CASES)
    assert not result.complete
    assert [row.generator_slot for row in result.rows] == [101]
    assert result.dropped == {"incomplete_record": 1}  # what was written of the second
    assert [c.slot for c in result.missing] == [102, 103]


def test_raw_control_characters_and_a_broken_middle_keep_what_comes_before():
    content = (
        answer(GOOD).replace("Great chat,", "Great\nchat,\t").replace('}, {"nps": 7', '} {"nps": 7')
    )
    result = read_answer(content, CASES)
    assert [row.generator_slot for row in result.rows] == [101, 102]
    assert result.rows[0].comment == "Great chat, the agent solved it in minutes."
    assert [c.slot for c in result.missing] == [103]


def test_an_answer_without_any_record_is_invalid():
    assert parse_answer('{"answers": [{"nps": 1}]}').items == [{"nps": 1}]
    assert parse_answer('[{"nps": 1}]').items == [{"nps": 1}]  # a model that dropped the wrapper
    empty = ('{"answers": []}', '{"answers": [{"n')
    for bad in ('{"answer": "no"}', "text", "3", "null", '{"answers": "x"}', "", *empty):
        with pytest.raises(InvalidAnswer):
            read_answer(bad, CASES)


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("Great service, thanks!", True),
        ("the agent fixed it in minutes", True),
        ("4.3, product review/product improvement", False),
        ("product review improvement", False),
        ("Slow. Slow.", False),
        ("12345 67890 11111 2222", False),
    ],
)
def test_what_counts_as_a_sentence(text, sentence):
    assert is_sentence(text) is sentence


def test_the_comment_checks_name_their_reason():
    topic = "long wait before anyone answered"
    assert problem("nps_score 3, csat 1", "detractor", topic) == "comment_markup"
    assert problem("See https://example.com please.", "detractor", topic) == "comment_markup"
    assert problem("Ticket #4512 took ages and nobody told me why.", "detractor", topic) is None
    assert (
        problem("Long wait before anyone answered.", "detractor", topic) == "comment_copies_topic"
    )
    assert (
        problem("The wait before anyone answered was over an hour, awful.", "detractor", topic)
        is None
    )


def test_near_duplicates_compare_words_not_punctuation_or_numbers():
    seen = NearDuplicates()
    assert seen.add("Waited 40 minutes on hold, then the call dropped.")
    assert not seen.add("waited 45 minutes on hold then the call dropped!!")
    assert seen.add("The refund arrived two days later, as promised.")


@pytest.mark.parametrize(
    ("comment", "positive", "negative"),
    [
        ("Excellent and friendly agent", 2, 0),
        ("Terrible wait, rude agent", 0, 2),
        ("The agent was not helpful at all", 0, 1),
        ("Not bad, actually", 1, 0),
        ("It didn't feel slow", 1, 0),
        ("Solved after the second contact", 1, 0),
        ("The problem is still not solved", 0, 1),
        ("Booked for Tuesday afternoon", 0, 0),
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
    assert copy_text([rows[0]._replace(comment=None)]).split("\t")[6] == "\\N"
