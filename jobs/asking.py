"""Keeps several model calls in flight, asks again for what came back unusable, and bounds the
asks per item. Shared by generation (items are slots) and classification (items are comments).

The exact-target guarantee does not depend on this scheduler: items are handed out once, and
the database's unique slot key makes any overlap harmless. What it adds is throughput and a
clean stop: on `halt` (SIGTERM, or a failed call) nothing new is asked, the calls in flight are
finished and handed to `accept`, and then it returns.
"""

from __future__ import annotations

import contextvars
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from threading import Event
from typing import Generic, TypeVar

Item = TypeVar("Item", bound=Hashable)
Result = TypeVar("Result")


@dataclass
class AskReport(Generic[Item]):
    batches: int = 0
    given_up: list[Item] = field(default_factory=list)  # still unusable after max_asks asks
    halted: bool = False


class ParallelAsker(Generic[Item, Result]):
    def __init__(
        self,
        *,
        batch_size: int,
        concurrency: int,
        max_asks: int,
        halt: Event,
        poll_seconds: float = 0.5,
    ) -> None:
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.max_asks = max_asks
        self.halt = halt
        self.poll_seconds = poll_seconds

    def run(
        self,
        items: Iterable[Item],
        ask: Callable[[list[Item], list[int]], Result],
        accept: Callable[[list[Item], Result], list[Item]],
        on_tick: Callable[[], None] = lambda: None,
    ) -> AskReport[Item]:
        """`ask(batch, asks)` runs on a worker thread, `asks` telling how often each item has been
        asked (1 the first time); `accept(batch, result)` runs on this thread and returns the
        items to ask again. `on_tick` runs after each completed call and
        at every poll (for progress logs)."""
        fresh = iter(items)
        again: deque[Item] = deque()  # asked before: these go first, mixed with fresh ones
        asks: Counter[Item] = Counter()
        report: AskReport[Item] = AskReport()
        failure: BaseException | None = None
        exhausted = False

        def next_batch() -> list[Item]:
            nonlocal exhausted
            batch: list[Item] = []
            while again and len(batch) < self.batch_size:
                batch.append(again.popleft())
            while not exhausted and len(batch) < self.batch_size:
                try:
                    batch.append(next(fresh))
                except StopIteration:
                    exhausted = True
            return batch

        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="ask") as pool:
            inflight: dict[Future, list[Item]] = {}
            try:
                while True:
                    while not self.halt.is_set() and len(inflight) < self.concurrency:
                        batch = next_batch()
                        if not batch:
                            break
                        asks.update(batch)
                        counts = [asks[item] for item in batch]
                        # Each call gets a copy of the context, so log lines keep the run id.
                        context = contextvars.copy_context()
                        inflight[pool.submit(context.run, ask, batch, counts)] = batch
                    if not inflight:
                        break
                    done, _ = wait(inflight, timeout=self.poll_seconds, return_when=FIRST_COMPLETED)
                    for future in done:
                        batch = inflight.pop(future)
                        try:
                            result = future.result()
                        except BaseException as exc:  # re-raised once the calls in flight end
                            if failure is None:
                                failure = exc
                            self.halt.set()  # stop the other calls' retries too
                            continue
                        report.batches += 1
                        for item in accept(batch, result):
                            if asks[item] >= self.max_asks:
                                report.given_up.append(item)
                            else:
                                again.append(item)
                    on_tick()
            except BaseException:
                # accept / on_tick failed here (e.g. the database went away): the calls in
                # flight are not worth waiting for through all their retries.
                self.halt.set()
                raise
        if failure is not None:
            raise failure
        report.halted = self.halt.is_set()
        return report
