"""Sentiment answers, progress arithmetic and the parallel asker: pure logic, no I/O."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import replace

import pytest

from jobs.asking import ParallelAsker
from jobs.errors import InvalidAnswer
from jobs.progress import ProgressMeter
from jobs.prompts import classification_messages, generation_messages
from jobs.scenario import Case
from jobs.sentiment import check_labels, labels_schema, read_labels


def test_the_labels_schema_is_one_sentiment_per_comment_by_position():
    schema = labels_schema(3)
    array = schema["properties"]["labels"]
    assert array["minItems"] == array["maxItems"] == 3
    assert (
        array["prefixItems"]
        == [{"type": "string", "enum": ["positive", "neutral", "negative"]}] * 3
    )


def test_labels_are_checked_and_bad_ones_dropped():
    check = check_labels(["positive", "angry", " Negative ", 7], 3)
    assert check.labels == {1: "positive", 3: "negative"}
    assert check.dropped == {"invalid_sentiment": 1, "extra_label": 1}
    short = check_labels(["neutral"], 3)
    assert short.labels == {1: "neutral"} and short.dropped == {"missing_from_answer": 2}
    assert read_labels('{"labels": ["positive", "neg', 2).labels == {1: "positive"}
    with pytest.raises(InvalidAnswer):
        read_labels('{"text": "no"}', 2)


def test_prompts_describe_every_case_on_its_own_line_and_ask_for_no_echo():
    case = Case(1, None, "chat", "enterprise", "detractor", "annoyed", "long wait", "brief",
                True, False)  # fmt: skip
    quiet = replace(case, category="promoter", mood="delighted", wants_comment=False)
    messages = generation_messages([case, quiet], {"chat": "Live chat"}, {"enterprise": "Ent"})
    user = messages[1]["content"]
    assert "1. Live chat, ent customer, annoyed: NPS 0-6, CSAT 1-3; " in user
    assert "; unhappy comment (brief) about: long wait\n2. " in user
    assert "2. Live chat, ent customer, delighted: NPS 9-10, CSAT 4-5; no comment" in user
    assert re.findall(r"^\d+\. ", user, flags=re.M) == ["1. ", "2. "]
    # The only comment asked for is a complaint, so the batch says so once more at the end.
    assert user.endswith("\nEvery comment here is a complaint.")
    mixed = generation_messages([case, replace(quiet, wants_comment=True)], {}, {})
    assert "Every comment" not in mixed[1]["content"]
    assert (
        '[{"nps": ..., "csat": ..., "comment": "..."}, {"nps": ..., "csat": ...}, ...]'
        in (messages[0]["content"])
    )
    labels = classification_messages(["line one\nline two", "ok"])[1]["content"]
    assert "1. line one line two\n2. ok" in labels


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_rate_and_eta_count_only_this_runs_work():
    clock = Clock()
    meter = ProgressMeter(target=1000, done_at_start=400, clock=clock)
    clock.now += 10
    snap = meter.snapshot(500)
    assert snap["records_per_s"] == 10.0
    assert snap["eta_s"] == 50.0
    assert snap["percent"] == 50.0


def test_progress_is_due_every_tenth_of_the_work_or_every_few_seconds():
    clock = Clock()
    meter = ProgressMeter(target=100, done_at_start=0, clock=clock, every_seconds=5)
    assert not meter.due(5)
    assert meter.due(10)
    assert not meter.due(10)  # nothing new
    clock.now += 6
    assert meter.due(11)
    assert meter.due(100)
    assert meter.last_logged == 100


def test_the_asker_asks_again_and_gives_up_after_max_asks():
    seen: list[tuple[list[int], int]] = []
    per_item: list[tuple[int, int]] = []
    lock = threading.Lock()

    def ask(batch, asks):
        with lock:
            seen.append((list(batch), max(asks)))
            per_item.extend(zip(batch, asks, strict=True))
        return batch

    def accept(batch, result):
        return [item for item in result if item % 5 == 0]  # multiples of 5 always fail

    asker = ParallelAsker(batch_size=4, concurrency=3, max_asks=3, halt=threading.Event())
    report = asker.run(range(1, 21), ask, accept)
    assert sorted(report.given_up) == [5, 10, 15, 20]
    asked = [item for batch, _ in seen for item in batch]
    assert sorted(set(asked)) == list(range(1, 21))
    assert asked.count(5) == 3 and asked.count(4) == 1
    assert max(number for _, number in seen) == 3
    # Each item's own count travels with it, also in a batch that mixes fresh and asked items.
    assert [count for item, count in per_item if item == 5] == [1, 2, 3]
    assert {count for item, count in per_item if item % 5} == {1}


def test_the_asker_keeps_calls_in_flight_at_once():
    # The barrier opens only when four calls run at the same time; with fewer it times out.
    four_at_once = threading.Barrier(4, timeout=10)

    def ask(batch, asks):
        four_at_once.wait()
        return batch

    asker = ParallelAsker(
        batch_size=1, concurrency=4, max_asks=1, halt=threading.Event(), poll_seconds=0.01
    )
    report = asker.run(range(12), ask, lambda batch, result: [])
    assert report.batches == 12


def test_on_halt_nothing_new_is_asked_and_calls_in_flight_are_accepted():
    halt = threading.Event()
    accepted: list[int] = []
    both_started = threading.Barrier(2)

    def ask(batch, asks):
        both_started.wait(timeout=5)
        halt.set()  # as if SIGTERM arrived while the first two calls run
        time.sleep(0.05)
        return batch

    asker = ParallelAsker(batch_size=2, concurrency=2, max_asks=1, halt=halt, poll_seconds=0.01)
    report = asker.run(range(100), ask, lambda batch, result: accepted.extend(result) or [])
    assert report.halted
    assert sorted(accepted) == [0, 1, 2, 3]  # the two batches in flight, nothing more


def test_a_failed_call_stops_the_others_and_is_raised_after_they_finish():
    halt = threading.Event()
    accepted: list[int] = []

    def ask(batch, asks):
        if batch[0] == 0:
            raise RuntimeError("Ollama is gone")
        time.sleep(0.05)
        return batch

    asker = ParallelAsker(batch_size=1, concurrency=2, max_asks=1, halt=halt, poll_seconds=0.01)
    with pytest.raises(RuntimeError, match="Ollama is gone"):
        asker.run(range(50), ask, lambda batch, result: accepted.extend(result) or [])
    assert halt.is_set()
    assert accepted == [1]  # the call already in flight was still handed over


def test_an_error_in_accept_halts_the_calls_in_flight_and_is_raised():
    halt = threading.Event()

    def accept(batch, result):
        raise ConnectionError("the database went away")

    asker = ParallelAsker(batch_size=1, concurrency=2, max_asks=1, halt=halt, poll_seconds=0.01)
    with pytest.raises(ConnectionError, match="database went away"):
        asker.run(range(10), lambda batch, asks: batch, accept)
    assert halt.is_set()
