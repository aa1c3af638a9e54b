"""Time windows people pick on the journal and KPI screens: named ranges and custom plant-local from/to times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hmi.shifts import ShiftSlot
from hmi.texts import Text
from screens.i18n import N_, _

LOCAL_FORMAT = "%Y-%m-%d %H:%M"
LOCAL_HINT = "YYYY-MM-DD HH:MM"

_SPANS = {
    "10m": timedelta(minutes=10),
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
LABELS = {
    "10m": N_("last 10 minutes"),
    "1h": N_("last hour"),
    "shift": N_("this shift"),
    "24h": N_("last 24 h"),
    "7d": N_("last 7 days"),
    "30d": N_("last 30 days"),
    "custom": N_("custom from – to"),
}


@dataclass(frozen=True, slots=True)
class Window:
    """A chosen window [start, end) in UTC; `open_end` when it runs up to now (newer rows are welcome)."""

    start: datetime
    end: datetime
    open_end: bool = False


def choices(*keys: str) -> dict[str, str]:
    """The select options for the named ranges `keys`, in that order."""
    return {key: _(LABELS[key]) for key in keys}


def parse_local(text: str, zone: ZoneInfo, what: str) -> datetime:
    """'2025-01-06 14:30' in plant local time as aware UTC; ValueError naming `what` and the expected form."""
    try:
        naive = datetime.strptime(text.strip(), LOCAL_FORMAT)  # noqa: DTZ007 - the zone is attached on the next line
    except ValueError:
        raise ValueError(
            Text(
                "{what} {text!r} is not a time; write it as {hint} (plant time, {zone})",
                what=what,
                text=text.strip(),
                hint=LOCAL_HINT,
                zone=zone.key,
            )
        ) from None
    return naive.replace(tzinfo=zone).astimezone(UTC)


def resolve(
    choice: str,
    now: datetime,
    zone: ZoneInfo,
    *,
    shift: ShiftSlot | None = None,
    custom_from: str = "",
    custom_to: str = "",
) -> Window:
    """The window for `choice` at `now`; a custom window with no 'to' runs up to now."""
    if choice in _SPANS:
        return Window(now - _SPANS[choice], now, open_end=True)
    if choice == "shift":
        if shift is None:
            raise ValueError(Text("no shift is known"))
        return Window(shift.start, shift.end)
    if choice != "custom":
        raise ValueError(Text("unknown time range {choice!r}", choice=choice))
    if not (custom_from or "").strip():
        raise ValueError(Text("give the 'from' time as {hint}", hint=LOCAL_HINT))
    start = parse_local(custom_from, zone, Text("'from'"))
    end = parse_local(custom_to, zone, Text("'to'")) if (custom_to or "").strip() else now
    if end <= start:
        raise ValueError(Text("the 'to' time must be after the 'from' time"))
    return Window(start, end, open_end=not (custom_to or "").strip())


def file_stamp(window: Window, zone: ZoneInfo) -> str:
    """'2025-01-06_0600_to_2025-01-06_1400' in plant local time, for file names."""
    fmt = "%Y-%m-%d_%H%M"
    return f"{window.start.astimezone(zone).strftime(fmt)}_to_{window.end.astimezone(zone).strftime(fmt)}"
