"""What a real model costs and how far it can be trusted (a script, not a timed test):

    OLLAMA_HOST=http://127.0.0.1:11434 OLLAMA_MODEL=qwen2.5:0.5b \\
        uv run python -m benchmarks.bench_llm [--records 100] [--batch-size 10]

Runs against ANY Ollama server (a real one, ../shared/tools/real-model, or the project's test
server) with the job's own code: the generator writes --records responses into a throwaway
database, exactly as `python -m jobs generate` would, and the classifier labels the project's
labelled set of support comments (benchmarks/data/support_comments_labelled.csv: balanced
positive / neutral / negative, with mixed, sarcastic and polite-but-neutral cases).

It prints, for generation: records per minute, completion and prompt tokens per KEPT record,
the share of the records the model wrote that were kept, drop and retry reasons, calls, the
model's decode speed from the answers' own counters (eval_count / eval_duration), and what
asking again did (outcomes of first asks and of re-asks); for classification: accuracy overall,
per class and per kind, the confusion matrix, and tokens per label.

Figures depend on the machine and on what else runs on it: compare runs made in one sitting.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import structlog

from jobs import store
from jobs.asking import ParallelAsker
from jobs.classify import Classifier, ClassifyOptions
from jobs.generate import GenerationOptions, GenerationReport, Generator
from jobs.llm import OllamaChat, RetryPolicy, Usage
from jobs.migrate import run_migrate
from jobs.scenario import Scenario
from npscsat.db import create_db_engine
from npscsat.models import SENTIMENTS
from testkit.pg import admin_server, throwaway_database

LABELLED = Path(__file__).resolve().parent / "data" / "support_comments_labelled.csv"
WINDOW_END = date(2025, 6, 30)


@dataclass
class GenerationFigures:
    records: int
    seconds: float
    records_per_min: float
    calls: int
    completion_tokens_per_kept: float
    prompt_tokens_per_kept: float
    kept_share_pct: float
    model_records: int
    dropped: dict
    retries: dict
    unusable_calls: int
    tokens_per_s: float | None
    first_asks: dict
    re_asks: dict


@dataclass
class ClassificationFigures:
    comments: int
    seconds: float
    accuracy_pct: float
    per_class_pct: dict  # recall: share of each true class labelled right
    per_kind_pct: dict
    confusion: dict  # true -> predicted -> count
    unlabelled: int
    completion_tokens_per_label: float
    prompt_tokens_per_label: float
    errors: list = field(default_factory=list)  # (comment, true, predicted), a sample


def _chat(host: str, model: str, usage: Usage, halt: threading.Event) -> OllamaChat:
    return OllamaChat(
        host=host,
        model=model,
        timeout_seconds=float(os.environ.get("OLLAMA_TIMEOUT_SECONDS", 300)),
        policy=RetryPolicy(give_up_seconds=float(os.environ.get("OLLAMA_GIVE_UP_SECONDS", 300))),
        usage=usage,
        halt=halt,
    )


def bench_generation(engine, host: str, model: str, args) -> GenerationFigures:
    usage, halt = Usage(), threading.Event()
    chat = _chat(host, model, usage, halt)
    chat.wait_for_model(pull=False)
    vocabulary = store.load_vocabulary(engine)
    scenario = Scenario(
        seed=args.seed,
        window_end=WINDOW_END,
        window_days=180,
        timezone="UTC",
        channels=list(vocabulary.channels),
        customer_types=list(vocabulary.customer_types),
    )
    generator = Generator(
        engine,
        chat,
        scenario,
        vocabulary,
        GenerationOptions(
            target=args.records,
            batch_size=args.batch_size,
            concurrency=args.concurrency,
            seed=args.seed,
            temperature=args.temperature,
            vary_reasks=args.reask != "same",
        ),
        usage=usage,
        halt=halt,
    )
    started = time.monotonic()
    report: GenerationReport = generator.run()
    seconds = time.monotonic() - started
    kept = max(report.written, 1)
    return GenerationFigures(
        records=report.written,
        seconds=round(seconds, 1),
        records_per_min=round(report.written / seconds * 60, 1),
        calls=usage.calls,
        completion_tokens_per_kept=round(usage.completion_tokens / kept, 1),
        prompt_tokens_per_kept=round(usage.prompt_tokens / kept, 1),
        kept_share_pct=round(100 * (report.kept_share or 0), 1),
        model_records=report.model_records,
        dropped=dict(report.dropped.most_common()),
        retries=dict(usage.retry_reasons.most_common()),
        unusable_calls=usage.unusable_calls,
        tokens_per_s=round(usage.tokens_per_second, 1) if usage.tokens_per_second else None,
        first_asks=dict(report.first_asks.most_common()),
        re_asks=dict(report.re_asks.most_common()),
    )


def read_labelled(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def bench_classification(engine, host: str, model: str, rows: list[dict], args):
    usage, halt = Usage(), threading.Event()
    chat = _chat(host, model, usage, halt)
    classifier = Classifier(
        engine,
        chat,
        ClassifyOptions(batch_size=args.classify_batch_size, concurrency=args.concurrency),
        halt=halt,
    )
    predicted: dict[int, str] = {}

    def accept(batch: list[tuple[int, str]], check) -> list[tuple[int, str]]:
        for number, label in check.labels.items():
            predicted[batch[number - 1][0]] = label
        return [item for n, item in enumerate(batch, 1) if n not in check.labels]

    asker = ParallelAsker(
        batch_size=args.classify_batch_size,
        concurrency=args.concurrency,
        max_asks=3,
        halt=halt,
    )
    started = time.monotonic()
    asker.run(list(enumerate(row["comment"] for row in rows)), classifier.ask, accept)
    seconds = time.monotonic() - started
    confusion: dict[str, Counter] = {label: Counter() for label in SENTIMENTS}
    by_kind: dict[str, list[bool]] = {}
    errors = []
    for index, row in enumerate(rows):
        truth, guess = row["sentiment"], predicted.get(index, "unlabelled")
        confusion[truth][guess] += 1
        by_kind.setdefault(row["kind"], []).append(guess == truth)
        if guess != truth and len(errors) < 12:
            errors.append((row["comment"], truth, guess))
    right = sum(confusion[label][label] for label in SENTIMENTS)
    labelled = max(len(predicted), 1)
    return ClassificationFigures(
        comments=len(rows),
        seconds=round(seconds, 1),
        accuracy_pct=round(100 * right / len(rows), 1),
        per_class_pct={
            label: round(100 * confusion[label][label] / max(sum(confusion[label].values()), 1), 1)
            for label in SENTIMENTS
        },
        per_kind_pct={
            kind: round(100 * sum(hits) / len(hits), 1) for kind, hits in sorted(by_kind.items())
        },
        confusion={label: dict(confusion[label]) for label in SENTIMENTS},
        unlabelled=len(rows) - len(predicted),
        completion_tokens_per_label=round(usage.completion_tokens / labelled, 1),
        prompt_tokens_per_label=round(usage.prompt_tokens / labelled, 1),
        errors=errors,
    )


def _print_generation(g: GenerationFigures) -> None:
    print(f"generation: {g.records} records in {g.seconds:.0f} s, {g.calls} calls")
    print(f"  records per minute                    {g.records_per_min:>8}")
    print(f"  completion tokens per kept record     {g.completion_tokens_per_kept:>8}")
    print(f"  prompt tokens per kept record         {g.prompt_tokens_per_kept:>8}")
    print(f"  kept / written by the model           {g.kept_share_pct:>7}%")
    print(f"  records the model wrote               {g.model_records:>8}")
    print(f"  model decode speed (tokens/s)         {g.tokens_per_s!s:>8}")
    print(f"  calls with no usable answer           {g.unusable_calls:>8}")
    print(f"  dropped: {g.dropped or 'none'}")
    print(f"  retries: {g.retries or 'none'}")
    print(f"  first asks: {g.first_asks}")
    print(f"  re-asks:    {g.re_asks or 'none'}")


def _print_classification(c: ClassificationFigures) -> None:
    print(f"\nclassification: {c.comments} labelled comments in {c.seconds:.0f} s")
    print(f"  accuracy                              {c.accuracy_pct:>7}%")
    for label, pct in c.per_class_pct.items():
        print(f"    {label:<12} (recall)               {pct:>7}%")
    for kind, pct in c.per_kind_pct.items():
        print(f"    kind {kind:<15}                {pct:>7}%")
    print(f"  unlabelled after 3 asks               {c.unlabelled:>8}")
    print(f"  completion / prompt tokens per label  {c.completion_tokens_per_label} / "
          f"{c.prompt_tokens_per_label}")  # fmt: skip
    print("  confusion (true -> predicted):")
    for truth, row in c.confusion.items():
        print(f"    {truth:<9} {row}")
    for comment, truth, guess in c.errors[:6]:
        print(f"    wrong: {guess:<9} for {truth:<9} {comment[:70]!r}")


def main() -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100, help="responses to generate")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--classify-batch-size", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--reask", choices=("varied", "same"), default="varied",
        help="ask again with another topic, style and temperature (the job's way), or the same",
    )  # fmt: skip
    parser.add_argument("--labelled", type=Path, default=LABELLED)
    parser.add_argument("--skip-generation", action="store_true")
    parser.add_argument("--skip-classification", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    host = os.environ.get("OLLAMA_HOST", "http://localhost:11434")
    model = os.environ.get("OLLAMA_MODEL", "qwen2.5:0.5b")

    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"bench_llm: {model} at {host}; load {load} on {os.cpu_count()} CPUs")
    print(f"  batch {args.batch_size}, concurrency {args.concurrency}, re-asks {args.reask}\n")
    results: dict = {
        "model": model,
        "host": host,
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    with admin_server() as admin, throwaway_database(admin, prefix="npscsat_llm") as database:
        engine = create_db_engine(database.url, application_name="npscsat-bench-llm")
        run_migrate(
            engine, business_timezone="UTC", dashboard_role="unused", dashboard_password=None
        )
        try:
            if not args.skip_generation:
                generation = bench_generation(engine, host, model, args)
                _print_generation(generation)
                results["generation"] = asdict(generation)
            if not args.skip_classification:
                classification = bench_classification(
                    engine, host, model, read_labelled(args.labelled), args
                )
                _print_classification(classification)
                results["classification"] = asdict(classification)
        finally:
            engine.dispose()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
