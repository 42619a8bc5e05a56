"""The classify step: the model labels the sentiment of every comment that has none yet, also
for responses that did not come from the generator. Labels already present are never changed."""

from __future__ import annotations

import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Engine

from jobs import prompts, sentiment, store
from jobs.asking import ParallelAsker
from jobs.errors import AnswerUnusable
from jobs.llm import ChatModel
from jobs.progress import ProgressMeter
from jobs.sentiment import LabelCheck

log = structlog.get_logger("jobs.classify")
TOKENS_PER_LABEL = 6  # `"negative", ` is 3-4 tokens; the rest is room for white space
TOKENS_PER_ANSWER = 12

Comment = tuple[int, str]  # (response id, text)


@dataclass(frozen=True)
class ClassifyOptions:
    batch_size: int = 20
    concurrency: int = 2
    max_asks: int = 8
    seed: int = 2024


@dataclass
class ClassifyReport:
    to_label: int
    labelled: int = 0
    left_unlabelled: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    duration_s: float = 0.0
    halted: bool = False


class Classifier:
    def __init__(
        self,
        engine: Engine,
        chat: ChatModel,
        options: ClassifyOptions,
        *,
        halt: threading.Event,
    ) -> None:
        self.engine = engine
        self.chat = chat
        self.options = options
        self.halt = halt

    def ask(self, comments: list[Comment], asks: list[int]) -> LabelCheck:
        seed = zlib.crc32(f"{self.options.seed}:label:{comments[0][0]}:{max(asks)}".encode())
        try:
            answer = self.chat.complete_json(
                prompts.classification_messages([text for _, text in comments]),
                sentiment.labels_schema(len(comments)),
                accept=lambda content: sentiment.read_labels(content, len(comments)),
                seed=seed,
                temperature=0.0,  # labelling is not creative: the most likely label
                max_tokens=TOKENS_PER_ANSWER + TOKENS_PER_LABEL * len(comments),
                purpose="classify",
            )
        except AnswerUnusable:
            return LabelCheck(dropped=Counter(unusable_answer=len(comments)))
        return answer.result

    def run(self) -> ClassifyReport:
        started = time.monotonic()
        report = ClassifyReport(to_label=store.count_unclassified(self.engine))
        log.info("classification_started", to_label=report.to_label, model=self.chat.model)
        if not report.to_label:
            return report
        meter = ProgressMeter(report.to_label, 0)

        def accept(comments: list[Comment], check: LabelCheck) -> list[Comment]:
            labels = {comments[number - 1][0]: label for number, label in check.labels.items()}
            report.labelled += store.write_sentiments(self.engine, labels)
            if check.dropped:
                report.dropped.update(check.dropped)
                log.info(
                    "labels_dropped",
                    batch=len(comments),
                    kept=len(check.labels),
                    reasons=dict(check.dropped),
                )
            return [c for number, c in enumerate(comments, 1) if number not in check.labels]

        def tick() -> None:
            if meter.due(report.labelled):
                log.info("classification_progress", **meter.snapshot(report.labelled))

        asker: ParallelAsker[Comment, LabelCheck] = ParallelAsker(
            batch_size=self.options.batch_size,
            concurrency=self.options.concurrency,
            max_asks=self.options.max_asks,
            halt=self.halt,
        )
        page = self.options.batch_size * self.options.concurrency * 4
        outcome = asker.run(store.unclassified_comments(self.engine, page), self.ask, accept, tick)
        report.left_unlabelled = len(outcome.given_up)
        report.halted = outcome.halted
        report.duration_s = time.monotonic() - started
        if report.left_unlabelled:
            # Enrichment, not the data itself: the rows stay, unlabelled, for the next run.
            log.warning(
                "comments_left_unlabelled",
                count=report.left_unlabelled,
                max_asks=self.options.max_asks,
                reasons=dict(report.dropped.most_common(3)),
            )
        return report
