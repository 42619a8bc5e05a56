"""The generate step: fill generator slots 1..target with checked responses.

Plan from the database (the slots still empty), draw each slot's case from the scenario, ask the
model for the scores and comments of a batch of cases under a strict per-batch JSON Schema,
check every record, write the good ones in bulk and ask again for the rest. Re-runs top up and
never exceed the target; a killed run resumes exactly, because the plan is read from the table.

Asking again is not asking the same way: a dropped case comes back with another topic and
writing style and another seed, and with a temperature that fits why it was dropped: higher
after a repetition (the model needs to wander off), lower after a comment that contradicted its
score or was not a sentence (it needs to stay on track). GenerationOptions.vary_reasks turns
this off; the benchmark measures the difference.
"""

from __future__ import annotations

import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import structlog
from sqlalchemy import Engine

from jobs import comments, prompts, records, store
from jobs.asking import ParallelAsker
from jobs.errors import AnswerUnusable, GenerationStalled
from jobs.llm import ChatModel, Usage
from jobs.load import BackgroundWriter, ResponseLoader
from jobs.progress import ProgressMeter
from jobs.records import BatchCheck
from jobs.scenario import Case, Scenario

log = structlog.get_logger("jobs.generate")
REASK_TEMPERATURE_STEP = 0.15  # per extra ask, after a repetition ...
REASK_TEMPERATURE_MAX = 1.2  # ... up to this
REASK_CAREFUL_TEMPERATURE = 0.5  # after anything else
REPETITIONS = frozenset({"near_duplicate_comment", "repeated_comment", "comment_copies_topic"})


@dataclass(frozen=True)
class GenerationOptions:
    target: int
    batch_size: int = 10
    concurrency: int = 2
    max_asks: int = 8
    seed: int = 2024
    temperature: float = 0.8
    vary_reasks: bool = True


@dataclass
class GenerationReport:
    target: int
    filled_at_start: int
    written: int = 0  # rows loaded into the table by this run
    dropped: Counter[str] = field(default_factory=Counter)
    model_records: int = 0  # records the model wrote (kept or dropped)
    kept: int = 0
    batches: int = 0
    duration_s: float = 0.0
    halted: bool = False
    # Respondents kept without the comment the scenario gave them: the model did not write a
    # usable one in half the asks (a small model stuck on one case must not stop the run).
    comments_given_up: int = 0
    # Outcomes of first asks and of re-asks, to see what asking differently does.
    first_asks: Counter[str] = field(default_factory=Counter)
    re_asks: Counter[str] = field(default_factory=Counter)

    @property
    def kept_share(self) -> float | None:
        return self.kept / self.model_records if self.model_records else None

    @property
    def filled(self) -> int:
        return self.filled_at_start + self.written

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class Asked(NamedTuple):
    check: BatchCheck
    asks: list[int]  # how often each case of the batch had been asked, this time included


class Generator:
    def __init__(
        self,
        engine: Engine,
        chat: ChatModel,
        scenario: Scenario,
        vocabulary: store.Vocabulary,
        options: GenerationOptions,
        *,
        usage: Usage,
        halt: threading.Event,
        run_id: uuid.UUID | None = None,
        on_progress: Callable[[dict], None] | None = None,
    ) -> None:
        self.engine = engine
        self.chat = chat
        self.scenario = scenario
        self.vocabulary = vocabulary
        self.options = options
        self.usage = usage
        self.halt = halt
        self.run_id = run_id
        self.on_progress = on_progress or (lambda _snapshot: None)  # for app.job_run
        self.run_comments = comments.RunRepeats()
        self._dropped_for: dict[int, str] = {}  # slot -> why it was last dropped
        self._lock = threading.Lock()
        self.report: GenerationReport | None = None  # live while run() works, also on failure

    @property
    def comment_asks(self) -> int:
        """Asks a case gets with its comment; later asks want the scores only."""
        return max(1, self.options.max_asks // 2)

    def cases_for(self, slots: list[int], asks: list[int]) -> list[Case]:
        """The cases of a batch; a case asked before comes with another topic and style, and
        after `comment_asks` failed asks without its comment."""
        cases = [self.scenario.case(slot) for slot in slots]
        if self.options.vary_reasks:
            cases = [self.scenario.retold(case, n) for case, n in zip(cases, asks, strict=True)]
        return [
            replace(case, wants_comment=False)
            if case.wants_comment and count > self.comment_asks
            else case
            for case, count in zip(cases, asks, strict=True)
        ]

    def temperature_for(self, slots: list[int], asks: list[int]) -> float:
        base = self.options.temperature
        extra = max(asks) - 1
        if not self.options.vary_reasks or not extra:
            return base
        with self._lock:
            reasons = {self._dropped_for.get(slot) for slot in slots}
        if reasons & REPETITIONS:
            return min(base + REASK_TEMPERATURE_STEP * extra, max(REASK_TEMPERATURE_MAX, base))
        return min(base, REASK_CAREFUL_TEMPERATURE)

    def ask(self, slots: list[int], asks: list[int]) -> Asked:
        """One model call for a batch of slots (runs on a worker thread)."""
        cases = self.cases_for(slots, asks)
        seed = zlib.crc32(f"{self.options.seed}:{slots[0]}:{len(slots)}:{max(asks)}".encode())
        try:
            answer = self.chat.complete_json(
                prompts.generation_messages(
                    cases, self.vocabulary.channels, self.vocabulary.customer_types
                ),
                records.batch_schema(cases),
                accept=lambda content: records.read_answer(content, cases, self.run_comments),
                seed=seed,
                temperature=self.temperature_for(slots, asks),
                max_tokens=records.token_budget(cases),
                purpose="generate",
            )
        except AnswerUnusable:
            return Asked(BatchCheck.unusable(cases), asks)
        return Asked(answer.result, asks)

    def run(self) -> GenerationReport:
        options = self.options
        started = time.monotonic()
        missing = store.missing_slots(self.engine, options.target)
        report = self.report = GenerationReport(options.target, options.target - len(missing))
        beyond = store.count_beyond_target(self.engine, options.target)
        log.info(
            "generation_started",
            target=options.target,
            already_there=report.filled_at_start,
            to_write=len(missing),
            beyond_target=beyond,
            batch_size=options.batch_size,
            concurrency=options.concurrency,
            model=self.chat.model,
            **self.scenario.describe(),
        )
        if not missing:
            log.info("generation_up_to_date", target=options.target)
            return report

        meter = ProgressMeter(options.target, report.filled_at_start)

        def counters() -> tuple[int, int]:
            with self._lock:
                return report.dropped_total, self.usage.retries

        def on_written(inserted: int) -> None:
            with self._lock:
                report.written += inserted

        def accept(slots: list[int], asked: Asked) -> list[int]:
            check = asked.check
            writer.submit(check.rows)
            dropped = check.dropped
            with self._lock:
                report.dropped.update(dropped)
                report.model_records += check.written
                report.kept += len(check.rows)
                for slot, outcome, count in zip(slots, check.outcomes, asked.asks, strict=True):
                    (report.first_asks if count == 1 else report.re_asks)[outcome] += 1
                    if outcome == records.KEPT:
                        self._dropped_for.pop(slot, None)
                        if count > self.comment_asks and self.scenario.case(slot).wants_comment:
                            report.comments_given_up += 1
                    else:
                        self._dropped_for[slot] = outcome
            if dropped or not check.complete:
                log.info(
                    "records_dropped",
                    batch=len(slots),
                    kept=len(check.rows),
                    reasons=dict(dropped),
                    answer_complete=check.complete,
                )
            return [case.slot for case in check.missing]

        def tick() -> None:
            writer.raise_if_failed()
            with self._lock:
                done = report.filled
            if meter.due(done):
                snapshot = meter.snapshot(done)
                log.info("generation_progress", **snapshot)
                self.on_progress(snapshot)

        asker: ParallelAsker[int, Asked] = ParallelAsker(
            batch_size=options.batch_size,
            concurrency=options.concurrency,
            max_asks=options.max_asks,
            halt=self.halt,
        )
        writer = BackgroundWriter(
            ResponseLoader(self.engine, self.run_id), counters=counters, on_written=on_written
        )
        try:
            outcome = asker.run(missing, self.ask, accept, tick)
        finally:
            try:
                writer.close()  # whatever was checked is written, also on failure or SIGTERM
            finally:
                writer.loader.close()
        report.batches = outcome.batches
        report.halted = outcome.halted
        report.duration_s = time.monotonic() - started
        if report.filled != meter.last_logged:  # the final count, unless just logged
            log.info("generation_progress", **meter.snapshot(report.filled))
        if outcome.given_up:
            raise GenerationStalled(_stalled_message(outcome.given_up, report, options, self.chat))
        return report


def _stalled_message(
    slots: list[int], report: GenerationReport, options: GenerationOptions, chat: ChatModel
) -> str:
    shown = ", ".join(map(str, sorted(slots)[:10])) + (" ..." if len(slots) > 10 else "")
    reasons = ", ".join(f"{reason} x{n}" for reason, n in report.dropped.most_common(3))
    return (
        f"{len(slots)} record(s) (slots {shown}) were still invalid after "
        f"JOB_MAX_ASKS_PER_RECORD={options.max_asks} asks each; the commonest reasons were "
        f"{reasons}. {report.written} new responses were written; run the job again to retry, "
        f"raise JOB_MAX_ASKS_PER_RECORD, or try a larger OLLAMA_MODEL than '{chat.model}'"
    )
