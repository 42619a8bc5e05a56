"""Route protection: until a login succeeds, the session gets the login form and nothing else.

streamlit-authenticator 0.4.2 provides the signed re-authentication cookie (an HS256 JWT under
AUTH_COOKIE_KEY), its session-state keys and logout. Its login widget is not used, because of
traps seen with Streamlit 1.67, each designed around here:
- its failed-attempt counter lives in the credentials dict, per session: the throttle is ours,
  process-wide, and it sees the username before the password is checked (dashboard.login);
- it sleeps 0.7 s on every logged-out rerun: our form sleeps never, bcrypt and the throttle
  set the pace;
- a cookie write or delete is a browser component that is lost if a rerun comes first: both
  are re-sent on every run until the component reports that the browser did it;
- a deleted-but-not-gone cookie could log the user back in: every logout is recorded and a
  cookie issued before the user's last logout is refused (dashboard.throttle.LogoutRegistry).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import streamlit as st
import streamlit_authenticator as stauth
import structlog

from dashboard import queries
from dashboard.config import DashboardSettings
from dashboard.formatting import escape_markdown
from dashboard.login import LoginResult, check_login, hash_password
from dashboard.throttle import LoginThrottle, LogoutRegistry, ThrottleRules
from npscsat.errors import NpscsatError
from npscsat.reporting import LoginUser

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
COOKIE_SET_PENDING = "npscsat_cookie_set_pending"
COOKIE_DELETE_PENDING = "npscsat_cookie_delete_pending"
LOGIN_MESSAGE = "npscsat_login_message"
USERNAME_INPUT, PASSWORD_INPUT = "login_username", "login_password"
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class SignedInUser:
    username: str
    name: str


@dataclass
class LoginGuards:
    """Process-wide: shared by every session and tab served by this dashboard process."""

    throttle: LoginThrottle
    logouts: LogoutRegistry
    decoy_hash: str


@st.cache_resource(show_spinner=False)
def login_guards(rules: ThrottleRules) -> LoginGuards:
    return LoginGuards(
        throttle=LoginThrottle(rules),
        logouts=LogoutRegistry(),
        # Unknown usernames are checked against this, so they cost the same time as real ones.
        decoy_hash=hash_password(secrets.token_urlsafe(24)),
    )


def guards_for(settings: DashboardSettings) -> LoginGuards:
    return login_guards(
        ThrottleRules(
            max_failures=settings.auth_max_attempts,
            window_seconds=settings.auth_attempt_window_seconds,
            lockout_seconds=settings.auth_lockout_seconds,
        )
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


def require_login(settings: DashboardSettings) -> SignedInUser | None:
    """The signed-in user, or None after rendering the login form (the caller then stops)."""
    guards = guards_for(settings)
    cookies = CookieAccess(settings)
    state = st.session_state
    if not state.get(AUTH_STATUS):
        try:
            _sign_in_from_cookie(cookies.authenticator, settings, guards)
        except NpscsatError as exc:
            state[LOGIN_MESSAGE] = ("error", f"Cannot restore your session: {exc}")

    if state.get(AUTH_STATUS):
        user = SignedInUser(state[USERNAME], state[NAME])
        if not _logout_clicked(user):
            _resend_cookie_operations(cookies)
            return user
        _log_out(user, cookies, guards)  # renders the cookie delete itself
    else:
        _resend_cookie_operations(cookies)
    _render_login_form(settings, guards)
    return None


# --- signing in -----------------------------------------------------------------------------


def _start_session(user: LoginUser) -> None:
    state = st.session_state
    state[AUTH_STATUS] = True
    state[USERNAME] = user.username
    state[NAME] = user.display_name
    state[EMAIL] = user.email
    state[ROLES] = None


def _sign_in_from_cookie(
    authenticator: stauth.Authenticate, settings: DashboardSettings, guards: LoginGuards
) -> None:
    """Restores a session from a valid, unrevoked cookie of a user who is still active."""
    if settings.auth_cookie_expiry_days == 0:
        return
    token = authenticator.cookie_controller.get_cookie()  # None / False unless valid and signed
    if not token:
        return
    username = str(token["username"])
    issued_at = float(token["exp_date"]) - settings.auth_cookie_expiry_days * SECONDS_PER_DAY
    if guards.logouts.is_revoked(username, issued_at):
        _drop_cookie("cookie_revoked", username)
        return
    user = queries.find_login_user(settings.dashboard_database_url, username)
    if user is None:  # deactivated or deleted since the cookie was issued
        _drop_cookie("cookie_user_inactive", username)
        return
    log.info("login_from_cookie", username=user.username)
    _start_session(user)


def _drop_cookie(event: str, username: str) -> None:
    # The library ignores the cookie for the rest of this session; the browser is asked to drop it.
    st.session_state[LOGOUT] = True
    st.session_state[COOKIE_DELETE_PENDING] = True
    log.info(event, username=username)


def _on_login_submit(settings: DashboardSettings, guards: LoginGuards) -> None:
    """Form callback: runs before the script, so a success renders the dashboard at once."""
    state = st.session_state
    username = str(state.get(USERNAME_INPUT) or "")
    password = str(state.get(PASSWORD_INPUT) or "")
    state[PASSWORD_INPUT] = ""  # the password does not stay in the session
    try:
        outcome = check_login(
            username,
            password,
            throttle=guards.throttle,
            find_user=lambda name: queries.find_login_user(settings.dashboard_database_url, name),
            decoy_hash=guards.decoy_hash,
        )
    except NpscsatError as exc:
        log.error("login_unavailable", error=str(exc))
        state[LOGIN_MESSAGE] = ("error", f"Cannot check your login right now: {exc}")
        return
    attempted = LoginThrottle.key(username)[:64]
    if outcome.result is LoginResult.SIGNED_IN:
        _start_session(outcome.user)
        state[LOGIN_MESSAGE] = None
        state[COOKIE_DELETE_PENDING] = False
        state[COOKIE_SET_PENDING] = settings.auth_cookie_expiry_days > 0
        log.info("login_succeeded", username=outcome.user.username)
        return
    if outcome.result is LoginResult.LOCKED:
        log.warning("login_locked", username=attempted, retry_after=round(outcome.retry_after))
        state[LOGIN_MESSAGE] = ("error", outcome.message)
    elif outcome.result is LoginResult.REJECTED:
        log.warning("login_failed", username=attempted, attempts_left=outcome.attempts_left)
        state[LOGIN_MESSAGE] = ("error", outcome.message)
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
            show(escape_markdown(text))  # may quote a server's error text: shown literally


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


def _log_out(user: SignedInUser, cookies: CookieAccess, guards: LoginGuards) -> None:
    """Ends the session without a rerun (a rerun right after the library's logout would drop its
    cookie delete); cookies issued before now stop working in this process even if the browser
    keeps them."""
    state = st.session_state
    guards.logouts.record_logout(user.username)
    state[COOKIE_SET_PENDING] = False  # never write a cookie for a user who just left
    authenticator = cookies.authenticator
    with cookies.box:
        authenticator.logout(location="unrendered")  # clears the session, renders the delete
    state[COOKIE_DELETE_PENDING] = True  # re-sent on later runs until the browser confirms
    state[LOGIN_MESSAGE] = ("info", "You are logged out.")
    log.info("logout", username=user.username)


def _plain(text: str) -> str:
    return escape_markdown(text)


# --- cookie writes that survive reruns ------------------------------------------------------


def _resend_cookie_operations(cookies: CookieAccess) -> None:
    """Re-renders a pending cookie write or delete until the browser confirms it.

    The library renders each as a one-shot component; a rerun before the iframe has loaded
    loses it. Its component reports True under the "set" / "delete" key once done.
    """
    state = st.session_state
    if state.get(COOKIE_SET_PENDING):
        if state.get(COOKIE_SET_DONE) is True and state.get(AUTH_STATUS):
            state[COOKIE_SET_PENDING] = False
        elif state.get(AUTH_STATUS):
            controller = cookies.authenticator.cookie_controller
            with cookies.box:
                controller.set_cookie()
    if state.get(COOKIE_DELETE_PENDING):
        if state.get(COOKIE_DELETE_DONE) is True:
            state[COOKIE_DELETE_PENDING] = False
        else:
            controller = cookies.authenticator.cookie_controller
            with cookies.box:
                controller.delete_cookie()
