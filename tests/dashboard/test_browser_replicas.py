"""Two dashboard replicas on one database, in a real browser (Debian's Chromium): a lockout, a
logout and a disabled account hold on both replicas and after both restart, because the login
state lives in PostgreSQL and not in a process's memory.

The replicas share AUTH_COOKIE_KEY, as a Deployment's pods do, and both listen on 127.0.0.1, so
a browser sends the same cookies to either (cookies do not depend on the port): replica A and
replica B stand for two pods behind one ingress.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from jobs import users
from tests.conftest import reset_data
from tests.dashboard.conftest import PASSWORD, insert_user
from tests.dashboard.live import (
    auth_cookies,
    dashboard_env,
    free_port,
    log_in,
    new_page,
    open_app,
    serve_dashboard,
    wait_for_cookie,
)

pytestmark = pytest.mark.slow

RECHECK_SECONDS = 1.0  # AUTH_SESSION_RECHECK_SECONDS of the replicas
SIGNED_IN = "Signed in as"


@dataclass
class Replicas:
    """Replica A and B, on fixed ports so that a restart brings them back where they were."""

    env: dict[str, str]
    ports: tuple[int, int] = field(default_factory=lambda: (free_port(), free_port()))
    _stack: contextlib.ExitStack | None = None

    @property
    def a(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    @property
    def b(self) -> str:
        return f"http://127.0.0.1:{self.ports[1]}"

    def start(self) -> None:
        self._stack = contextlib.ExitStack()
        for port in self.ports:
            self._stack.enter_context(serve_dashboard(self.env, port))

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def restart(self) -> None:
        """A deploy: both processes end (and with them any memory) and start again."""
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def replicas(migrated_db) -> Iterator[Replicas]:
    reset_data(migrated_db.engine)
    env = dashboard_env(
        migrated_db,
        AUTH_MAX_ATTEMPTS="3",
        AUTH_MAX_ATTEMPTS_PER_ADDRESS="4",
        # The browser reaches the replicas from 127.0.0.1, standing in for the ingress.
        AUTH_TRUSTED_PROXIES="127.0.0.1",
        AUTH_SESSION_RECHECK_SECONDS=str(RECHECK_SECONDS),
    )
    pair = Replicas(env)
    pair.start()
    try:
        yield pair
    finally:
        pair.stop()


@pytest.fixture
def accounts(migrated_db, replicas):
    """Fresh users and an empty login state for each test."""
    reset_data(migrated_db.engine)
    for name in ("alice", "bob", "carol", "dave"):
        insert_user(migrated_db.engine, name)
    return migrated_db


def signed_in(page, timeout: float = 20_000) -> None:
    page.get_by_text(SIGNED_IN).wait_for(timeout=timeout)


def settle(page) -> None:
    """Waits until the page stops rerunning by itself: the cookie is written and the cookie
    component's report (one more run) is over. The next run is then the test's own click."""
    wait_for_cookie(page, present=True)
    page.wait_for_timeout(1500)


def stays_logged_out(page) -> None:
    page.get_by_role("textbox", name="Username").wait_for()
    page.wait_for_timeout(1500)  # time for a (wrong) sign-in from the cookie to happen
    assert page.get_by_role("textbox", name="Username").is_visible()
    expect(page.get_by_text(SIGNED_IN)).to_have_count(0)


def test_a_lockout_on_replica_a_holds_on_replica_b_and_after_a_restart(replicas, accounts, browser):
    on_a = new_page(browser)
    open_app(on_a, replicas.a)
    for left in ("2 attempts left", "1 attempt left"):
        log_in(on_a, "alice", "not-her-password")
        on_a.get_by_text(left).wait_for()
    log_in(on_a, "alice", "not-her-password")
    on_a.get_by_text("Too many failed attempts for this username").wait_for()

    on_b = new_page(browser)
    open_app(on_b, replicas.b)
    log_in(on_b, "alice", PASSWORD)  # the right password, on the other replica
    on_b.get_by_text("Too many failed attempts for this username").wait_for()
    expect(on_b.get_by_text(SIGNED_IN)).to_have_count(0)

    replicas.restart()
    after = new_page(browser)
    open_app(after, replicas.b)
    log_in(after, "alice", PASSWORD)
    after.get_by_text("Too many failed attempts for this username").wait_for()
    expect(after.get_by_text(SIGNED_IN)).to_have_count(0)

    open_app(after, replicas.a)  # another user is not affected
    log_in(after, "bob", PASSWORD)
    signed_in(after)


def test_one_password_sprayed_over_many_usernames_blocks_that_client_on_every_replica(
    replicas, accounts, browser
):
    # The proxy in front (trusted) says which client each request comes from.
    sprayer = new_page(browser, extra_http_headers={"X-Forwarded-For": "203.0.113.9"})
    open_app(sprayer, replicas.a)
    for name in ("bob", "carol", "dave"):
        log_in(sprayer, name, "Summer2026!")
        sprayer.get_by_text("2 attempts left").wait_for()  # each username failed only once
        sprayer.reload()
        sprayer.get_by_role("textbox", name="Username").wait_for()
    log_in(sprayer, "erin", "Summer2026!")
    sprayer.get_by_text("Too many failed attempts from your network").wait_for()

    same_client = new_page(browser, extra_http_headers={"X-Forwarded-For": "203.0.113.9"})
    open_app(same_client, replicas.b)
    log_in(same_client, "alice", PASSWORD)  # right password, other replica: still blocked
    same_client.get_by_text("Too many failed attempts from your network").wait_for()
    expect(same_client.get_by_text(SIGNED_IN)).to_have_count(0)

    neighbour = new_page(browser, extra_http_headers={"X-Forwarded-For": "198.51.100.20"})
    open_app(neighbour, replicas.b)
    log_in(neighbour, "alice", PASSWORD)
    signed_in(neighbour)


def test_a_cookie_kept_after_logout_on_a_is_refused_on_b_and_after_a_restart(
    replicas, accounts, browser
):
    on_a = new_page(browser)
    open_app(on_a, replicas.a)
    log_in(on_a, "bob", PASSWORD)
    signed_in(on_a)
    wait_for_cookie(on_a, present=True)
    kept = auth_cookies(on_a.context)
    assert kept[0]["sameSite"] == "Strict"
    assert kept[0]["secure"] is False  # plain http here (see the https test below)
    assert kept[0]["expires"] - time.time() == pytest.approx(12 * 3600, abs=120)  # 12 hours

    # While the login lasts, the cookie signs in on the other replica too.
    control = new_page(browser)
    control.context.add_cookies(kept)
    control.goto(replicas.b)
    signed_in(control)
    control.context.close()

    on_a.get_by_role("button", name="Log out").click()
    on_a.get_by_text("You are logged out").wait_for()

    for url in (replicas.b, replicas.a):  # a copy kept after the logout, on either replica
        replay = new_page(browser)
        replay.context.add_cookies(kept)
        replay.goto(url)
        stays_logged_out(replay)
        replay.context.close()

    replicas.restart()
    for url in (replicas.a, replicas.b):
        replay = new_page(browser)
        replay.context.add_cookies(kept)
        replay.goto(url)
        stays_logged_out(replay)
        replay.context.close()


def test_a_disabled_users_open_sessions_end_on_their_next_interaction(replicas, accounts, browser):
    pages = []
    for url in (replicas.a, replicas.b):  # carol is signed in on both replicas
        page = new_page(browser)
        open_app(page, url)
        log_in(page, "carol", PASSWORD)
        signed_in(page)
        settle(page)
        pages.append(page)

    users.set_active(accounts.engine, "carol", False)  # `python -m jobs users disable carol`
    time.sleep(RECHECK_SECONDS + 0.2)
    for page in pages:
        page.get_by_role("button", name="Refresh data").click()  # any interaction
        page.get_by_text("Your session has ended").wait_for()
        page.get_by_role("textbox", name="Username").wait_for()
        expect(page.get_by_text(SIGNED_IN)).to_have_count(0)
        page.reload()  # and the remember-me cookie does not bring the session back
        stays_logged_out(page)


def test_a_changed_password_ends_the_session_and_its_cookie(replicas, accounts, browser):
    page = new_page(browser)
    open_app(page, replicas.b)
    log_in(page, "dave", PASSWORD)
    signed_in(page)
    settle(page)
    kept = auth_cookies(page.context)

    users.set_password(accounts.engine, "dave", "a-brand-new-password", app_env="dev")
    time.sleep(RECHECK_SECONDS + 0.2)
    page.get_by_role("button", name="Refresh data").click()
    page.get_by_text("Your session has ended").wait_for()

    replay = new_page(browser)
    replay.context.add_cookies(kept)
    replay.goto(replicas.a)
    stays_logged_out(replay)
    with accounts.engine.connect() as conn:
        reasons = conn.execute(text("SELECT end_reason FROM app.login_session")).scalars().all()
    assert reasons == ["password_changed"]


def test_behind_https_the_cookie_is_secure(migrated_db, accounts, browser):
    env = dashboard_env(migrated_db, DASHBOARD_PUBLIC_URL="https://nps.example.org")
    with serve_dashboard(env) as url:
        page = new_page(browser)
        open_app(page, url)
        log_in(page, "alice", PASSWORD)
        signed_in(page)
        wait_for_cookie(page, present=True)
        [cookie] = auth_cookies(page.context)
    assert cookie["secure"] is True and cookie["sameSite"] == "Strict"
