"""Formatting for screens: plant local time with zone, values with quality, states in words."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from hmi.access.auth import SignIn
from hmi.oee.states import StateCategory
from hmi.tags import Quality, TagState
from screens.i18n import N_, _, message, number, when

PACKML_CLASS = {
    "Execute": "running",
    "Suspended": "starved",
    "Suspending": "transition",
    "Unsuspending": "transition",
    "Held": "down",
    "Aborted": "down",
    "Idle": "idle",
    "Stopped": "idle",
    "Complete": "idle",
    "Starting": "transition",
    "Completing": "transition",
    "Resetting": "transition",
    "Holding": "transition",
    "Unholding": "transition",
    "Stopping": "transition",
    "Aborting": "transition",
    "Clearing": "transition",
}
# The same words by OEE state category (stops, trend bands).
CATEGORY_WORD = {
    StateCategory.RUNNING: N_("RUNNING"),
    StateCategory.STARVED_BLOCKED: N_("STARVED/BLOCKED"),
    StateCategory.DOWN: N_("DOWN"),
    StateCategory.IDLE: N_("IDLE"),
    StateCategory.TRANSITION: N_("CHANGING"),
    StateCategory.UNKNOWN: N_("UNKNOWN"),
}
CLASS_WORD = {
    "running": N_("RUNNING"),
    "starved": N_("STARVED/BLOCKED"),
    "down": N_("DOWN"),
    "idle": N_("IDLE"),
    "transition": N_("CHANGING"),
    "unknown": N_("UNKNOWN"),
}


def local_time(dt: datetime | None, zone: ZoneInfo, *, date: bool = False) -> str:
    """'14:03:22 CET' (or with the date) in plant local time; '—' for no time."""
    if dt is None:
        return "—"
    return when(dt.astimezone(zone), date=date)


def display_status(status: str) -> str:
    """'BadSensorFailure' -> 'Bad_SensorFailure', the way OPC UA documents write it."""
    for prefix in ("Bad", "Uncertain", "Good"):
        if status.startswith(prefix) and len(status) > len(prefix):
            return f"{prefix}_{status[len(prefix) :]}"
    return status


def format_value(state: TagState | None, data_type: str = "float") -> str:
    """The value as text; never blank so a missing value is visible as '—'."""
    if state is None or state.value is None:
        return "—"
    value = state.value
    if isinstance(value, bool):
        return _("ON") if value else _("OFF")
    if isinstance(value, float):
        return number(value) if abs(value) < 1e6 else f"{value:.3g}"
    if isinstance(value, int):
        return number(value, 0)
    return str(value)[:60]


def quality_badge(state: TagState | None, now: datetime) -> tuple[str, str]:
    """(css class, text) of the badge beside a value: empty text for a good live value."""
    if state is None:
        return "stale", _("NO DATA")
    if state.quality is Quality.STALE:
        age = int((now - (state.stale_since or state.received_at)).total_seconds())
        return "stale", _("STALE {age}").format(age=_age(age))
    if state.quality is Quality.BAD:
        return "bad", _("BAD {status}").format(status=display_status(state.status))
    if state.quality is Quality.UNCERTAIN:
        return "uncertain", _("UNCERTAIN {status}").format(status=display_status(state.status))
    if state.skewed:
        # Good by its status, but stamped in the future: the source's clock is wrong, its times are not to be trusted.
        return "uncertain", _("CLOCK SKEW +{age}").format(age=_age(round(state.clock_skew_s)))
    return "good", ""


def _age(seconds: int) -> str:
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def line_state(state: TagState | None) -> tuple[str, str]:
    """(css class, words) of a PackML state (ISA-TR88.00.02): this HMI's overview mapping."""
    if state is None or not state.good or not isinstance(state.value, str):
        return "unknown", _("UNKNOWN")
    cls = PACKML_CLASS.get(state.value, "unknown")
    return cls, f"{_(CLASS_WORD[cls])} ({state.value})"


def refusal_text(result: SignIn) -> str:
    """What the login page says for a refused sign-in: the limit and when to retry, or the lockout, or neither."""
    if result.throttled is not None:
        text = (
            _("Too many sign-in attempts from this panel (at most {limit}).")
            if result.throttled.scope == "address"
            else _("Too many sign-in attempts for this user name (at most {limit}).")
        )
        return (
            text.format(limit=message(result.throttled.limit))
            + " "
            + _("Try again in {wait}; nothing was checked this time.").format(
                wait=wait_text(result.throttled.retry_after_s)
            )
        )
    if result.locked:
        return _("This account is locked after too many failed sign-ins; ask an administrator to unlock it.")
    if result.notice:
        # The directory is away, or the person has no role on this HMI: saying so reveals no account.
        return message(result.notice)
    return _("Wrong user name or password, or the account is disabled.")


def wait_text(seconds: int) -> str:
    """ "45 s", "4 min 10 s", "1 h 5 min": a wait as a person reads it, never shorter than it is."""
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    # Minutes rounded up past the hour: a person who comes back on time must not be refused again.
    hours, rest = divmod(seconds, 3600)
    minutes = -(-rest // 60)
    if minutes == 60:
        hours, minutes = hours + 1, 0
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
