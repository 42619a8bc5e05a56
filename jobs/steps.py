"""The job's steps and how `run` chains them: migrate -> demo user -> wait for the model ->
generate -> classify -> refresh -> one summary line. Each step is also a subcommand of
`python -m jobs`.

The schema and the users come first, before anything waits for Ollama: on a first
`docker compose up` the model may still be downloading for minutes, and the dashboard can
already log people in and say what is happening (app.job_run's phase)."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Engine

from jobs import store
from jobs.classify import Classifier, ClassifyOptions, ClassifyReport
from jobs.config import JobSettings
from jobs.errors import JobInterrupted, UserError
from jobs.generate import GenerationOptions, GenerationReport, Generator
from jobs.invite import run_invite
from jobs.llm import ModelProgress, OllamaChat, RetryPolicy, Usage
from jobs.migrate import run_migrate
from jobs.refresh import RefreshReport, refresh_reporting
from jobs.runs import RunRecorder, data_lock
from jobs.scenario import Scenario, default_window_end
from jobs.users import ensure_admin
from npscsat.db import create_db_engine, ensure_reachable

log = structlog.get_logger("jobs")


@dataclass
class JobContext:
    """What every step shares: settings, the run id, the stop flag, usage counters, one engine."""

    settings: JobSettings
    run_id: uuid.UUID
    halt: threading.Event = field(default_factory=threading.Event)
    usage: Usage = field(default_factory=Usage)
    started: float = field(default_factory=time.monotonic)
    outcome: RunOutcome | None = None  # of the data steps, also when they end in an error
    _engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            engine = create_db_engine(
                self.settings.database(),
                application_name="npscsat-job",
                pool_size=self.settings.job_concurrency + 3,  # lock + writer + workers + main
            )
            ensure_reachable(engine)
            self._engine = engine
        return self._engine

    def chat(self) -> OllamaChat:
        s = self.settings
        return OllamaChat(
            host=s.ollama_host,
            model=s.ollama_model,
            timeout_seconds=s.ollama_timeout_seconds,
            policy=RetryPolicy(
                give_up_seconds=s.ollama_give_up_seconds,
                backoff_seconds=s.ollama_backoff_seconds,
                backoff_max_seconds=s.ollama_backoff_max_seconds,
                model_wait_seconds=s.ollama_model_wait_seconds,
            ),
            usage=self.usage,
            halt=self.halt,
        )

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


@dataclass
class RunOutcome:
    """What the summary line reports."""

    generation: GenerationReport | None = None
    generation_tokens: int = 0
    generation_completion_tokens: int = 0
    classification: ClassifyReport | None = None
    refresh: RefreshReport | None = None
    agreement: store.Agreement | None = None


def migrate(ctx: JobContext) -> None:
    s = ctx.settings
    password = s.dashboard_db_password
    survey_password = s.survey_db_password
    run_migrate(
        ctx.engine,
        business_timezone=s.business_timezone,
        dashboard_role=s.dashboard_db_user,
        dashboard_password=password.get_secret_value() if password else None,
        survey_role=s.survey_db_user,
        survey_password=survey_password.get_secret_value() if survey_password else None,
    )


def ensure_demo_user(ctx: JobContext, *, reset: bool = False) -> None:
    """Creates the demo user when it is missing; with `reset`, also applies the environment to
    an existing one (`users reset-admin`)."""
    s = ctx.settings
    if not s.dashboard_admin_username or s.dashboard_admin_password is None:
        if reset:
            raise UserError(
                "reset-admin needs DASHBOARD_ADMIN_USERNAME and DASHBOARD_ADMIN_PASSWORD "
                "(see .env.example)"
            )
        log.warning(
            "admin_user_skipped",
            reason="DASHBOARD_ADMIN_USERNAME / DASHBOARD_ADMIN_PASSWORD are not set; add users "
            "with `python -m jobs users add NAME`",
        )
        return
    ensure_admin(
        ctx.engine,
        username=s.dashboard_admin_username,
        password=s.dashboard_admin_password.get_secret_value(),
        display_name=s.dashboard_admin_display_name,
        email=s.dashboard_admin_email,
        app_env=s.app_env,
        reset=reset,
    )


def invite_demo(ctx: JobContext) -> None:
    """SURVEY_DEMO_INVITATIONS: a handful of demo invitations (idempotent) and one link in the
    log, so that a reviewer can answer a survey and watch it reach the dashboard."""
    report = run_invite(
        ctx.engine, ctx.settings.survey_links(), path=None, out=None, mailer=None, demo=True
    )
    log.info("survey_demo_invitations", invited=report.invited, already=report.already_invited)


MODEL_PROGRESS_EVERY_SECONDS = 5.0


def wait_for_model(
    ctx: JobContext, chat: OllamaChat | None = None, recorder: RunRecorder | None = None
) -> None:
    """Waits until the model is on the server, logging (and recording) the download's progress."""
    chat = chat or ctx.chat()
    last = -MODEL_PROGRESS_EVERY_SECONDS

    def on_progress(progress: ModelProgress) -> None:
        nonlocal last
        if progress.elapsed_s - last < MODEL_PROGRESS_EVERY_SECONDS:
            return
        last = progress.elapsed_s
        log.info(
            "model_waiting",
            model=chat.model,
            host=chat.host,
            status=progress.status,
            percent=progress.percent,
            completed=progress.completed,
            total=progress.total,
            elapsed_s=round(progress.elapsed_s, 1),
        )
        if recorder:
            detail = progress.status if progress.percent is None else f"{progress.percent:g} %"
            recorder.phase("waiting_for_model", detail=detail)

    if recorder:
        recorder.phase("waiting_for_model", detail="checking")
    chat.wait_for_model(pull=ctx.settings.ollama_pull_model, on_progress=on_progress)


def run_data_steps(
    ctx: JobContext,
    *,
    generate: bool,
    classify: bool,
    refresh: bool,
    target: int | None = None,
) -> RunOutcome:
    """The steps that write data, under the data lock; a run that generates is recorded in
    app.job_run (running -> succeeded / failed / interrupted)."""
    s = ctx.settings
    target = s.job_target_responses if target is None else target
    engine = ctx.engine
    outcome = ctx.outcome = RunOutcome()
    with data_lock(engine):
        recorder = RunRecorder(engine, ctx.run_id) if generate else None
        if recorder:
            recorder.start(
                target=target,
                filled=target - len(store.missing_slots(engine, target)),
                model=s.ollama_model,
            )
        try:
            _data_steps(
                ctx,
                outcome,
                recorder,
                generate=generate,
                classify=classify,
                refresh=refresh,
                target=target,
            )
        except JobInterrupted:
            if recorder:
                recorder.finish(
                    "interrupted",
                    dropped=_dropped(outcome),
                    retries=ctx.usage.retries,
                    detail="stopped by a signal after the batches in flight",
                )
            raise
        except BaseException as exc:
            if recorder:
                recorder.finish(
                    "failed",
                    dropped=_dropped(outcome),
                    retries=ctx.usage.retries,
                    detail=str(exc) or type(exc).__name__,
                )
            raise
        if recorder:
            recorder.finish("succeeded", dropped=_dropped(outcome), retries=ctx.usage.retries)
    return outcome


def _dropped(outcome: RunOutcome) -> int:
    return outcome.generation.dropped_total if outcome.generation else 0


def _data_steps(
    ctx: JobContext,
    outcome: RunOutcome,
    recorder: RunRecorder | None,
    *,
    generate: bool,
    classify: bool,
    refresh: bool,
    target: int,
) -> None:
    s = ctx.settings
    engine = ctx.engine
    to_generate = len(store.missing_slots(engine, target)) if generate else 0
    to_label = store.count_unclassified(engine) if classify else 0
    chat = ctx.chat()
    if to_generate or to_label:
        # Only when there is work: a finished data set needs no Ollama.
        wait_for_model(ctx, chat, recorder)
    else:
        log.info("nothing_to_generate", target=target, model_check="skipped")

    if generate:
        if recorder:
            recorder.phase("generating")
        vocabulary = store.load_vocabulary(engine)
        window = store.pinned_window_end(
            engine, s.job_window_end, default_window_end(s.business_timezone)
        )
        log.info("scenario_window", window_end=window.end.isoformat(), source=window.source)
        scenario = Scenario(
            seed=s.job_seed,
            window_end=window.end,
            window_days=s.job_window_days,
            timezone=s.business_timezone,
            channels=list(vocabulary.channels),
            customer_types=list(vocabulary.customer_types),
            comment_shares=s.comment_shares(),
        )
        options = GenerationOptions(
            target=target,
            batch_size=s.job_batch_size,
            concurrency=s.job_concurrency,
            max_asks=s.job_max_asks_per_record,
            seed=s.job_seed,
            temperature=s.job_temperature,
        )
        tokens_before, completion_before = ctx.usage.tokens, ctx.usage.completion_tokens
        generator = Generator(
            engine,
            chat,
            scenario,
            vocabulary,
            options,
            usage=ctx.usage,
            halt=ctx.halt,
            run_id=ctx.run_id,
            on_progress=(
                (lambda snapshot: recorder.phase("generating", eta_s=snapshot["eta_s"]))
                if recorder
                else None
            ),
        )
        try:
            outcome.generation = generator.run()
        finally:
            # On failure too: the counts so far go into app.job_run and the last log line.
            outcome.generation = outcome.generation or generator.report
            outcome.generation_tokens = ctx.usage.tokens - tokens_before
            outcome.generation_completion_tokens = ctx.usage.completion_tokens - completion_before
        if outcome.generation.halted:
            raise JobInterrupted()

    if classify:
        if recorder:
            recorder.phase("classifying", detail=f"{to_label} comments")
        classifier = Classifier(
            engine,
            chat,
            ClassifyOptions(
                batch_size=s.job_classify_batch_size,
                concurrency=s.job_concurrency,
                max_asks=s.job_max_asks_per_record,
                seed=s.job_seed,
            ),
            halt=ctx.halt,
        )
        outcome.classification = classifier.run()
        if outcome.classification.halted:
            raise JobInterrupted()
        outcome.agreement = store.score_comment_agreement(engine)

    if refresh:
        if recorder:
            recorder.phase("refreshing")
        outcome.refresh = refresh_reporting(engine)


def _per(total: int, records: int) -> float | None:
    return round(total / records, 1) if records else None


def generation_counts(generation) -> dict:
    """How far generation got: the part of every end-of-run line, finished or not."""
    return {
        "written": generation.written,
        "responses_total": generation.filled,
        "target": generation.target,
        "dropped": generation.dropped_total,
    }


def summary_fields(ctx: JobContext, outcome: RunOutcome) -> dict:
    """The fields of the one summary line a run ends with."""
    s = ctx.settings
    fields: dict = {"duration_s": round(time.monotonic() - ctx.started, 1)}
    generation = outcome.generation
    if generation:
        fields.update(
            **generation_counts(generation),
            dropped_reasons=dict(generation.dropped),
            tokens_per_record=_per(outcome.generation_tokens, generation.written),
            completion_tokens_per_record=_per(
                outcome.generation_completion_tokens, generation.written
            ),
            model_records=generation.model_records,
            comments_given_up=generation.comments_given_up,
            kept_pct=(
                round(100 * generation.kept_share, 1) if generation.kept_share is not None else None
            ),
        )
    usage = ctx.usage
    fields.update(
        retries=usage.retries,
        retry_reasons=dict(usage.retry_reasons),
        unusable_calls=usage.unusable_calls,
        ollama_calls=usage.calls,
        tokens=usage.tokens,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        tokens_per_s=round(usage.tokens_per_second, 1) if usage.tokens_per_second else None,
    )
    if outcome.classification:
        fields.update(
            labelled=outcome.classification.labelled,
            left_unlabelled=outcome.classification.left_unlabelled,
        )
    if outcome.agreement:
        fields.update(
            sentiment_agreement_pct=outcome.agreement.agreement_pct,
            sentiment_exact_pct=outcome.agreement.exact_pct,
        )
    if outcome.refresh:
        fields.update(reporting_rebuilt=outcome.refresh.rebuilt)
    fields.update(dashboard_url=s.dashboard_public_url, login_user=s.dashboard_admin_username)
    fields["next"] = (
        f"open {s.dashboard_public_url} and log in as {s.dashboard_admin_username}"
        if s.dashboard_admin_username
        else f"open {s.dashboard_public_url}; no demo user is configured: add one with "
        "`python -m jobs users add NAME` or set DASHBOARD_ADMIN_USERNAME / _PASSWORD"
    )
    return fields
