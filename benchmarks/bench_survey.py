"""Load on the survey: 10,000 answers from 200 concurrent clients, against one survey process
and against two processes behind one port (uvicorn workers sharing the socket).

    uv run python -m benchmarks.bench_survey [--answers 10000] [--clients 200]

In one run, on a throwaway database (same server choice as the tests, see testkit/pg.py) with as
many invitations as answers: each client first opens its invitations' pages (GET, which reads
the invitation and signs the form's CSRF token), then, once every page is more than the minimum
time to submit old (so no answer is flagged as a bot), sends the answers (POST: the rate-limit
call, then the recording call, then the redirect to the thank-you page). Printed per setup:
throughput and p50 / p95 / p99 latency of both, and the check that answers recorded = answers
sent: one row per invitation, each with the scores and comment its client sent, none flagged,
the rollup and the response rate counting every one. The clients run on the same 2 cores as the
server and PostgreSQL, so the figures are a floor, to be read as a ratio between the setups.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from sqlalchemy import text

from jobs.migrate import run_migrate
from npscsat.db import create_db_engine
from npscsat.survey_links import SurveyLinks
from testkit.pg import admin_server, drop_role, throwaway_database
from testkit.ports import free_port

REPO = Path(__file__).resolve().parents[1]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CHANNELS = ("phone", "email", "chat", "whatsapp", "self_service")
TYPES = ("individual", "small_business", "enterprise")
MIN_SUBMIT_SECONDS = 2


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, latency: float, status: int) -> None:
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def line(self, what: str) -> str:
        ordered = sorted(self.latencies)
        cuts = statistics.quantiles(ordered, n=100, method="inclusive")
        return (
            f"  {what:<6} {len(ordered) / self.seconds:8,.0f} /s   p50 {cuts[49] * 1000:6.1f} ms   "
            f"p95 {cuts[94] * 1000:6.1f} ms   p99 {cuts[98] * 1000:6.1f} ms   "
            f"statuses {dict(sorted(self.statuses.items()))}"
        )


def answer_of(index: int) -> dict[str, str]:
    return {
        "nps_score": str(index % 11),
        "csat_score": str(1 + index % 5),
        "comment": f"benchmark answer {index}",
    }


async def run_phase(clients: int, items, call) -> Phase:
    """`clients` workers share the items; each has its own connection (aiohttp: httpx's client
    cost more CPU per request than the survey itself on this machine)."""
    phase = Phase()
    queue: asyncio.Queue = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

        async def worker() -> None:
            while not queue.empty():
                item = queue.get_nowait()
                started = time.perf_counter()
                status = await call(client, item)
                phase.add(time.perf_counter() - started, status)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        phase.seconds = time.perf_counter() - started
    return phase


async def load(base: str, links: list[str], clients: int) -> tuple[Phase, Phase]:
    tokens: dict[int, str] = {}

    async def get(client: aiohttp.ClientSession, index: int) -> int:
        async with client.get(base + links[index]) as answer:
            tokens[index] = CSRF.search(await answer.text()).group(1)
            return answer.status

    async def post(client: aiohttp.ClientSession, index: int) -> int:
        form = {"csrf_token": tokens[index], **answer_of(index)}
        async with client.post(base + links[index], data=form, allow_redirects=False) as answer:
            await answer.read()
            return answer.status

    pages = await run_phase(clients, range(len(links)), get)
    await asyncio.sleep(MIN_SUBMIT_SECONDS + 0.5)  # every page is now older than the minimum
    answers = await run_phase(clients, range(len(links)), post)
    return pages, answers


def start_survey(env: dict[str, str], workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "survey"],
        cwd=REPO,
        env={
            **env,
            "SURVEY_PORT": str(port),
            "SURVEY_PUBLIC_URL": url,
            "SURVEY_WORKERS": str(workers),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return server, url
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the survey did not start") from None
            time.sleep(0.3)


def check(engine, count: int) -> str:
    with engine.connect() as conn:
        rows, distinct, wrong, bots = conn.execute(
            text(
                "SELECT count(*), count(DISTINCT r.external_id), "
                "count(*) FILTER (WHERE r.nps_score <> (e.n % 11) OR r.csat_score <> 1 + e.n % 5 "
                "  OR r.comment <> 'benchmark answer ' || e.n), "
                "count(*) FILTER (WHERE r.suspected_bot) "
                "FROM app.survey_response r "
                "JOIN (SELECT external_id, substr(external_id, 7)::int AS n "
                "      FROM app.survey_invitation) e ON e.external_id = r.external_id "
                "WHERE r.source = 'survey'"
            )
        ).one()
        rolled = conn.execute(
            text("SELECT coalesce(sum(responses), 0) FROM reporting.daily_rollup")
        ).scalar_one()
        answered = conn.execute(
            text("SELECT coalesce(sum(answered), 0) FROM reporting.invitation_rollup")
        ).scalar_one()
    verdict = (
        "nothing lost, nothing doubled"
        if rows == distinct == rolled == answered == count and wrong == bots == 0
        else "MISMATCH"
    )
    return (
        f"  recorded {rows:,} rows for {count:,} answers sent ({distinct:,} invitations, "
        f"{wrong} with other values, {bots} flagged as bots; rollup {rolled:,}, response rate "
        f"{answered:,}/{count:,}): {verdict}"
    )


def reset(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM app.survey_response WHERE source = 'survey'"))
        conn.execute(text("UPDATE app.survey_invitation SET answered_at = NULL"))
        conn.execute(text("TRUNCATE app.survey_rate"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE app.survey_response, app.survey_invitation"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=200)
    args = parser.parse_args()
    role, password = f"npscsat_bench_survey_{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    key = secrets.token_urlsafe(48)
    with admin_server() as admin:
        with throwaway_database(admin, prefix="npscsat_bench") as database:
            engine = create_db_engine(database.url, application_name="npscsat-bench")
            run_migrate(
                engine,
                business_timezone="UTC",
                dashboard_role="",
                dashboard_password=None,
                survey_role=role,
                survey_password=password,
            )
            with engine.begin() as conn:
                ids = conn.execute(
                    text(
                        "INSERT INTO app.survey_invitation (external_id, channel, customer_type, "
                        "expires_at) SELECT 'bench-' || n, (:channels)[1 + n % 5], "
                        "(:types)[1 + n % 3], now() + interval '30 days' "
                        "FROM generate_series(0, :last) AS n RETURNING id, external_id"
                    ),
                    {"channels": list(CHANNELS), "types": list(TYPES), "last": args.answers - 1},
                ).all()
            by_index = {int(external_id.removeprefix("bench-")): i for i, external_id in ids}
            links = SurveyLinks(key, "", 30)
            paths = [links.link(by_index[n]) for n in range(args.answers)]
            env = {
                **os.environ,
                "SURVEY_DATABASE_URL": database.url.set(
                    username=role, password=password
                ).render_as_string(False),
                "SURVEY_SIGNING_KEY": key,
                "APP_ENV": "prod",
                "LOG_FORMAT": "json",
                "SURVEY_HOST": "127.0.0.1",
                # One address sends everything here: the per-address limit would stop it.
                "SURVEY_RATE_LIMIT_PER_ADDRESS": "1000000",
                "SURVEY_MIN_SUBMIT_SECONDS": str(MIN_SUBMIT_SECONDS),
            }
            print(
                f"{args.answers:,} answers from {args.clients} concurrent clients "
                f"(load average {os.getloadavg()[0]:.1f} at the start)"
            )
            for workers in (1, 2):
                server, url = start_survey(env, workers)
                try:
                    pages, answers = asyncio.run(load(url, paths, args.clients))
                finally:
                    server.terminate()
                    server.wait(timeout=30)
                label = "one survey process" if workers == 1 else "two processes, one port"
                print(f"\n{label} (load average {os.getloadavg()[0]:.1f} after it):")
                print(pages.line("GET"))
                print(answers.line("POST"))
                print(check(engine, args.answers))
                reset(engine)
            engine.dispose()
        drop_role(admin, role)


if __name__ == "__main__":
    main()
