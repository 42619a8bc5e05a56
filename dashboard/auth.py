"""Route protection: until a login succeeds, the session gets the login form and nothing else.

Every login is a session row in PostgreSQL (dashboard.login_state), so what it means to be signed
in is the same on every replica and after a restart: a logout, a disabled account or a changed
password ends the session everywhere, and a signed-in browser re-checks its session every few
seconds (AUTH_SESSION_RECHECK_SECONDS). Failed attempts are counted there too, per username and
per client address.

streamlit-authenticator 0.4.2 provides the signed remember-me cookie (an HS256 JWT under
AUTH_COOKIE_KEY), its session-state keys and logout. Its login widget is not used, because of
traps seen with Streamlit 1.67, each designed around here:
- its failed-attempt counter lives in the credentials dict, per session: the throttle is ours,
  in the database, and it sees the username before the password is checked (dashboard.login);
- it sleeps 0.7 s on every logged-out rerun: our form sleeps never, bcrypt and the throttle
  set the pace;
- a cookie write or delete is a browser component that is lost if a rerun comes first: both
  are re-sent on every run until the component reports that the browser did it;
- its cookie names only a user and an expiry, and cannot be Secure: ours also names the
  session (so a copy kept after logout is refused) and is Secure when the public URL is https.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
import streamlit as st
import streamlit_authenticator as stauth
import structlog

from dashboard import queries
from dashboard.config import DashboardSettings
from dashboard.formatting import escape_markdown
from dashboard.home import show_database_problem
from dashboard.login import BcryptGate, LoginResult, check_login
from dashboard.login_state import LoginStateStore, ThrottleRules, login_subject
from npscsat.client_address import client_address
from npscsat.errors import NpscsatError
from npscsat.login import hash_password

log = structlog.get_logger("dashboard.auth")

# Session keys owned by streamlit-authenticator (its documented contract).
AUTH_STATUS, USERNAME, NAME, EMAIL, ROLES, LOGOUT = (
    "authentication_status",
    "username",
    "name",
    "email",
    "roles",
    "logout",
)
# The library's cookie components report back under these widget keys (True once done).
COOKIE_SET_DONE, COOKIE_DELETE_DONE = "set", "delete"
# Our own session keys.
SESSION_ID = "npscsat_session_id"
SESSION_CHECKED_AT = "npscsat_session_checked_at"
COOKIE_SET_PENDING = "npscsat_cookie_set_pending"
COOKIE_DELETE_PENDING = "npscsat_cookie_delete_pending"
LOGIN_MESSAGE = "npscsat_login_message"
USERNAME_INPUT, PASSWORD_INPUT = "login_username", "login_password"
# What an anonymous visitor reads when the database cannot answer; the details go to the log.
UNAVAILABLE = "Cannot check your login right now. Please try again in a minute."
SESSION_ENDED = (
    "Your session has ended (you logged out elsewhere, or your account or password changed). "
    "Log in again."
)


@dataclass(frozen=True)
class SignedInUser:
    username: str
    name: str


@dataclass
class LoginGuards:
    """Process-wide: shared by every session and tab served by this dashboard process."""

    decoy_hash: str
    gate: BcryptGate


@st.cache_resource(show_spinner=False)
def login_guards(max_concurrent_checks: int) -> LoginGuards:
    return LoginGuards(
        # Unknown usernames are checked against this, so they cost the same time as real ones.
        decoy_hash=hash_password(secrets.token_urlsafe(24)),
        gate=BcryptGate(max_concurrent_checks),
    )


def login_state(settings: DashboardSettings) -> LoginStateStore:
    """The shared login state; opens no connection until it is asked something."""
    return LoginStateStore(
        queries.get_engine(settings.dashboard_database_url),
        ThrottleRules(
            max_failures=settings.auth_max_attempts,
            max_address_failures=settings.auth_max_attempts_per_address,
            window_seconds=settings.auth_attempt_window_seconds,
            lockout_seconds=settings.auth_lockout_seconds,
        ),
        session_seconds=settings.session_seconds,
    )


class CookieAccess:
    """Builds the library's Authenticate object on first use in a run, inside one fixed
    container. Building it renders an invisible cookie iframe whose first report costs a rerun,
    so a signed-in page with no cookie write or delete pending never builds it."""

    def __init__(self, settings: DashboardSettings) -> None:
        self._settings = settings
        # A fixed slot: the elements after it are not re-created when the iframe comes or goes.
        self.box = st.container(key="auth_cookie_box")
        self._authenticator: stauth.Authenticate | None = None

    @property
    def authenticator(self) -> stauth.Authenticate:
        if self._authenticator is None:
            with self.box:
                self._authenticator = stauth.Authenticate(
                    {"usernames": {}},
                    self._settings.auth_cookie_name,
                    self._settings.auth_cookie_key.get_secret_value(),
                    self._settings.auth_cookie_expiry_days,
                    auto_hash=False,
                )
        return self._authenticator

    def write(self) -> None:
        """The remember-me cookie for this session. Written here rather than by the library's
        set_cookie, which can neither name the session nor set Secure; read back by the
        library's get_cookie (same key, same claims plus `sid`). Written by JavaScript (the
        component), so it cannot be HttpOnly: nothing on the page renders user text as HTML."""
        settings, state = self._settings, st.session_state
        expires = datetime.now() + timedelta(days=settings.auth_cookie_expiry_days)
        claims = {"username": state[USERNAME], "exp_date": expires.timestamp()}
        token = jwt.encode(
            {**claims, "sid": state[SESSION_ID]},
            settings.auth_cookie_key.get_secret_value(),
            algorithm="HS256",
        )
        manager = self.authenticator.cookie_controller.cookie_model.cookie_manager
        with self.box:
            manager.set(
                settings.auth_cookie_name,
                token,
                key=COOKIE_SET_DONE,
                expires_at=expires,
                # Secure when the public URL is https, or this browser reached us over https
                # (TLS ended at a proxy in front, DASHBOARD_PUBLIC_URL left at its default).
                secure=settings.cookie_secure or (st.context.url or "").startswith("https://"),
                same_site="strict",
            )

    def delete(self) -> None:
        with self.box:
            self.authenticator.cookie_controller.delete_cookie()


def require_login(settings: DashboardSettings) -> SignedInUser | None:
    """The signed-in user, or None after rendering the login form or a message (the caller
    then stops)."""
    guards = login_guards(settings.auth_max_concurrent_checks)
    cookies = CookieAccess(settings)
    state = st.session_state
    if not state.get(AUTH_STATUS):
        try:
            _sign_in_from_cookie(cookies.authenticator, settings)
        except NpscsatError as exc:
            log.error("session_restore_unavailable", error=str(exc))
            state[LOGIN_MESSAGE] = ("error", UNAVAILABLE)

    if state.get(AUTH_STATUS):
        try:
            still_valid = _session_still_valid(settings)
        except NpscsatError as exc:
            log.error("session_check_unavailable", error=str(exc))
            show_database_problem(exc)  # a signed-in user may read what is wrong
            return None
        if not still_valid:
            log.info("session_ended_elsewhere", username=state.get(USERNAME))
            _end_session_here(cookies, ("info", SESSION_ENDED))
        else:
            user = SignedInUser(state[USERNAME], state[NAME])
            if not _logout_clicked(user):
                _resend_cookie_operations(cookies)
                return user
            _log_out(user, cookies, settings)  # renders the cookie delete itself
    else:
        _resend_cookie_operations(cookies)
    _render_login_form(settings, guards)
    return None


# --- signing in -----------------------------------------------------------------------------


def _start_session(username: str, display_name: str, email: str | None, session_id: str) -> None:
    state = st.session_state
    state[AUTH_STATUS] = True
    state[USERNAME] = username
    state[NAME] = display_name
    state[EMAIL] = email
    state[ROLES] = None
    state[SESSION_ID] = session_id
    state[SESSION_CHECKED_AT] = time.monotonic()


def _sign_in_from_cookie(authenticator: stauth.Authenticate, settings: DashboardSettings) -> None:
    """Restores a session from a valid cookie whose session still counts."""
    if settings.auth_cookie_expiry_days == 0:
        return
    token = authenticator.cookie_controller.get_cookie()  # None / False unless valid and signed
    if not token:
        return
    username = str(token.get("username"))
    session_id = token.get("sid")
    user = login_state(settings).session_user(session_id) if session_id else None
    if user is None:  # logged out, expired, user disabled or password changed since
        _drop_cookie("cookie_refused", username)
        return
    log.info("login_from_cookie", username=user.username)
    _start_session(user.username, user.display_name, user.email, session_id)


def _session_still_valid(settings: DashboardSettings) -> bool:
    """Re-checks the signed-in session in the database, at most every few seconds."""
    state = st.session_state
    now = time.monotonic()
    checked_at = state.get(SESSION_CHECKED_AT)
    if checked_at is not None and now - checked_at < settings.auth_session_recheck_seconds:
        return True
    user = login_state(settings).session_user(state.get(SESSION_ID))
    if user is None:
        return False
    state[NAME] = user.display_name  # a renamed user sees the new name
    state[SESSION_CHECKED_AT] = now
    return True


def _drop_cookie(event: str, username: str) -> None:
    # The library ignores the cookie for the rest of this session; the browser is asked to drop it.
    st.session_state[LOGOUT] = True
    st.session_state[COOKIE_DELETE_PENDING] = True
    log.info(event, username=username)


def _client(settings: DashboardSettings) -> str | None:
    """The client's address for the per-address throttle (see dashboard.client_address)."""
    forwarded = st.context.headers.get_all("X-Forwarded-For") if st.context.headers else []
    return client_address(st.context.ip_address, forwarded, settings.trusted_proxies)


def _on_login_submit(settings: DashboardSettings, guards: LoginGuards) -> None:
    """Form callback: runs before the script, so a success renders the dashboard at once."""
    state = st.session_state
    username = str(state.get(USERNAME_INPUT) or "")
    password = str(state.get(PASSWORD_INPUT) or "")
    state[PASSWORD_INPUT] = ""  # the password does not stay in the session
    address = _client(settings)
    try:
        outcome = check_login(
            username,
            password,
            address=address,
            state=login_state(settings),
            find_user=lambda name: queries.find_login_user(settings.dashboard_database_url, name),
            decoy_hash=guards.decoy_hash,
            gate=guards.gate,
        )
    except NpscsatError as exc:
        log.error("login_unavailable", error=str(exc))
        state[LOGIN_MESSAGE] = ("error", UNAVAILABLE)
        return
    attempted = login_subject(username.strip()).lower()
    if outcome.result is LoginResult.SIGNED_IN:
        user = outcome.user
        _start_session(user.username, user.display_name, user.email, outcome.session_id)
        state[LOGIN_MESSAGE] = None
        state[COOKIE_DELETE_PENDING] = False
        state[COOKIE_SET_PENDING] = settings.auth_cookie_expiry_days > 0
        log.info("login_succeeded", username=user.username, address=address)
        return
    if outcome.result is LoginResult.LOCKED:
        log.warning(
            "login_locked",
            username=attempted,
            address=address,
            locked_by=outcome.lock.locked_by,
            retry_after=round(outcome.retry_after),
        )
        state[LOGIN_MESSAGE] = ("error", outcome.message)
    elif outcome.result is LoginResult.REJECTED:
        log.warning(
            "login_failed",
            username=attempted,
            address=address,
            attempts_left=outcome.attempts_left,
        )
        state[LOGIN_MESSAGE] = ("error", outcome.message)
    elif outcome.result is LoginResult.BUSY:
        log.warning("login_busy", username=attempted, address=address)
        state[LOGIN_MESSAGE] = ("warning", outcome.message)
    else:
        state[LOGIN_MESSAGE] = ("warning", outcome.message)


def _render_login_form(settings: DashboardSettings, guards: LoginGuards) -> None:
    _, middle, _ = st.columns([1, 2, 1])  # centred on a laptop, full width on a phone
    with middle:
        st.title("NPS & CSAT")
        st.caption("Customer satisfaction of the support team. Log in to see the figures.")
        with st.form("login_form"):
            st.text_input("Username", key=USERNAME_INPUT, max_chars=64, autocomplete="username")
            st.text_input(
                "Password",
                type="password",
                key=PASSWORD_INPUT,
                max_chars=256,
                autocomplete="current-password",
            )
            st.form_submit_button(
                "Log in",
                type="primary",
                key="login_submit",
                on_click=_on_login_submit,
                args=(settings, guards),
                width="stretch",
            )
        message = st.session_state.get(LOGIN_MESSAGE)
        if message:
            kind, text = message
            show = {"error": st.error, "warning": st.warning, "info": st.info}[kind]
            show(escape_markdown(text))


# --- the account box and logout ---------------------------------------------------------------


def _logout_clicked(user: SignedInUser) -> bool:
    """Draws "signed in as" and the logout button; True when it was just clicked."""
    slot = st.sidebar.empty()
    with slot.container():
        st.caption(f"Signed in as **{_plain(user.name)}** ({_plain(user.username)})")
        clicked = st.button("Log out", key="logout_button", icon=":material/logout:")
    if clicked:
        slot.empty()
    return clicked


def _log_out(user: SignedInUser, cookies: CookieAccess, settings: DashboardSettings) -> None:
    """Ends the session in the database (so its cookie stops working on every replica, even if
    the browser keeps it), then here."""
    message = ("info", "You are logged out.")
    try:
        login_state(settings).end_session(st.session_state.get(SESSION_ID))
    except NpscsatError as exc:
        log.error("logout_not_recorded", username=user.username, error=str(exc))
        message = (
            "warning",
            "You are logged out here, but the logout could not be recorded: a copy of this "
            "browser's login cookie would still work until it expires.",
        )
    _end_session_here(cookies, message)
    log.info("logout", username=user.username)


def _end_session_here(cookies: CookieAccess, message: tuple[str, str]) -> None:
    """Clears this browser session without a rerun (a rerun right after the library's logout
    would drop its cookie delete)."""
    state = st.session_state
    state[COOKIE_SET_PENDING] = False  # never write a cookie for a session that ended
    authenticator = cookies.authenticator
    with cookies.box:
        authenticator.logout(location="unrendered")  # clears the session, renders the delete
    state[SESSION_ID] = None
    state[SESSION_CHECKED_AT] = None
    state[COOKIE_DELETE_PENDING] = True  # re-sent on later runs until the browser confirms
    state[LOGIN_MESSAGE] = message


def _plain(text: str) -> str:
    return escape_markdown(text)


# --- cookie writes that survive reruns ------------------------------------------------------


def _resend_cookie_operations(cookies: CookieAccess) -> None:
    """Re-renders a pending cookie write or delete until the browser confirms it.

    The cookie component is one-shot; a rerun before its iframe has loaded loses it. It
    reports True under the "set" / "delete" key once done.
    """
    state = st.session_state
    if state.get(COOKIE_SET_PENDING):
        if state.get(COOKIE_SET_DONE) is True and state.get(AUTH_STATUS):
            state[COOKIE_SET_PENDING] = False
        elif state.get(AUTH_STATUS):
            cookies.write()
    if state.get(COOKIE_DELETE_PENDING):
        if state.get(COOKIE_DELETE_DONE) is True:
            state[COOKIE_DELETE_PENDING] = False
        else:
            cookies.delete()
