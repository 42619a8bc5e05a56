"""The generate step: fill generator slots 1..target with checked responses.

Plan from the database (the slots still empty), draw each slot's case from the scenario, ask the
model for the CSAT score and comment of a batch of cases under a strict per-batch JSON Schema,
check every record, write the good ones in bulk and ask again for the rest. Re-runs top up and
never exceed the target; a killed run resumes exactly, because the plan is read from the table.
"""

from __future__ import annotations

import threading
import time
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Engine

from jobs import prompts, records, store
from jobs.asking import ParallelAsker
from jobs.errors import GenerationStalled
from jobs.llm import ChatModel, Usage
from jobs.load import BackgroundWriter, ResponseLoader
from jobs.progress import ProgressMeter
from jobs.records import BatchCheck
from jobs.scenario import Scenario

log = structlog.get_logger("jobs.generate")
# Output budget per record (JSON keys + a comment of up to 400 characters) plus the wrapper:
# a model that ignores the grammar's end cannot run away with the call.
TOKENS_PER_RECORD = 160
TOKENS_PER_ANSWER = 60


@dataclass(frozen=True)
class GenerationOptions:
    target: int
    batch_size: int = 10
    concurrency: int = 2
    max_asks: int = 8
    seed: int = 2024
    temperature: float = 0.8


@dataclass
class GenerationReport:
    target: int
    filled_at_start: int
    written: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    duration_s: float = 0.0
    halted: bool = False

    @property
    def filled(self) -> int:
        return self.filled_at_start + self.written

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


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
    ) -> None:
        self.engine = engine
        self.chat = chat
        self.scenario = scenario
        self.vocabulary = vocabulary
        self.options = options
        self.usage = usage
        self.halt = halt
        self.run_id = run_id
        self.record_model = records.build_record_model(
            list(vocabulary.channels), list(vocabulary.customer_types)
        )
        self._lock = threading.Lock()
        self.report: GenerationReport | None = None  # live while run() works, also on failure

    def ask(self, slots: list[int], ask_number: int) -> BatchCheck:
        """One model call for a batch of slots (runs on a worker thread)."""
        cases = [self.scenario.case(slot) for slot in slots]
        messages = prompts.generation_messages(
            cases, self.vocabulary.channels, self.vocabulary.customer_types
        )
        seed = zlib.crc32(f"{self.options.seed}:{slots[0]}:{len(slots)}:{ask_number}".encode())
        answer = self.chat.complete_json(
            messages,
            records.batch_schema(cases, self.record_model),
            accept=records.answer_items,
            seed=seed,
            temperature=self.options.temperature,
            max_tokens=TOKENS_PER_ANSWER + TOKENS_PER_RECORD * len(cases),
            purpose="generate",
        )
        return records.check_answer(answer.items, cases, self.record_model)

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

        def accept(slots: list[int], check: BatchCheck) -> list[int]:
            writer.submit(check.rows)
            if check.dropped:
                with self._lock:
                    report.dropped.update(check.dropped)
                log.info(
                    "records_dropped",
                    batch=len(slots),
                    kept=len(check.rows),
                    reasons=dict(check.dropped),
                )
            return [case.slot for case in check.missing]

        def tick() -> None:
            writer.raise_if_failed()
            with self._lock:
                done = report.filled
            if meter.due(done):
                log.info("generation_progress", **meter.snapshot(done))

        asker: ParallelAsker[int, BatchCheck] = ParallelAsker(
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
