"""State timelines: recorded state samples turned into segments of one state each (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hmi.oee.states import StateCategory, canonical, category

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NO_DATA = "No data"
HOLE_FACTOR = 1.5
"""A state is trusted for this many of its tag's max intervals after its sample; the historian re-writes it
at least once per max interval, so a longer silence means the recording (or the connection) stopped."""


def to_us(when: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime, exactly (as samples store time)."""
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when.isoformat()} given; pass a timezone-aware time (UTC)")
    return (when - EPOCH) // timedelta(microseconds=1)


def from_us(t_us: int) -> datetime:
    """The aware UTC datetime of a sample time in microseconds since the epoch, exactly."""
    return EPOCH + timedelta(microseconds=t_us)


@dataclass(frozen=True, slots=True)
class StateSample:
    """One recorded value of a state tag: its source time, state text and quality."""

    t: datetime
    text: str | None
    quality: str


@dataclass(frozen=True)
class Segment:
    """A period [start, end) in which a line or machine stayed in one state."""

    start: datetime
    end: datetime
    state: str
    category: StateCategory

    @property
    def duration_s(self) -> float:
        """Length of the segment in seconds."""
        return (self.end - self.start).total_seconds()


def sample_state(sample: StateSample) -> tuple[str, StateCategory]:
    """What one sample says: its state and category; bad or stale quality (or no value) is UNKNOWN."""
    if sample.quality in ("bad", "stale"):
        return sample.quality.capitalize(), StateCategory.UNKNOWN
    if sample.text is None or not sample.text.strip():
        return NO_DATA, StateCategory.UNKNOWN
    return canonical(sample.text), category(sample.text)


def build_timeline(
    samples: Sequence[StateSample], start: datetime, end: datetime, now: datetime, max_interval_s: float
) -> list[Segment]:
    """Segments covering [start, min(end, now)) from samples in time order (the first may lie before `start`).

    Before the first sample, and from HOLE_FACTOR x max_interval_s after a sample until the next one, the state
    is UNKNOWN ('No data'); consecutive equal states merge into one segment.
    """
    stop = min(end, now)
    if stop <= start:
        return []
    trust = timedelta(seconds=max_interval_s * HOLE_FACTOR)
    pieces: list[tuple[datetime, datetime, str, StateCategory]] = []
    if not samples or samples[0].t > start:
        pieces.append((start, samples[0].t if samples else stop, NO_DATA, StateCategory.UNKNOWN))
    for i, sample in enumerate(samples):
        following = samples[i + 1].t if i + 1 < len(samples) else stop
        state, cat = sample_state(sample)
        trusted_until = min(following, sample.t + trust)
        pieces.append((sample.t, trusted_until, state, cat))
        if trusted_until < following:
            pieces.append((trusted_until, following, NO_DATA, StateCategory.UNKNOWN))
    return _merge_pieces(pieces, start, stop)


def _merge_pieces(
    pieces: Iterable[tuple[datetime, datetime, str, StateCategory]], start: datetime, stop: datetime
) -> list[Segment]:
    out: list[Segment] = []
    for p_start, p_end, state, cat in pieces:
        p_start, p_end = max(p_start, start), min(p_end, stop)
        if p_start >= p_end:
            continue
        if out and out[-1].state == state and out[-1].category == cat and out[-1].end == p_start:
            out[-1] = Segment(out[-1].start, p_end, state, cat)
        else:
            out.append(Segment(p_start.astimezone(UTC), p_end.astimezone(UTC), state, cat))
    return out


def state_started(segments: Sequence[Segment], state: str, seen_at: datetime) -> datetime:
    """When the line entered its current `state`: the start of the last recorded segment when that segment is this
    state and began no later than `seen_at` (the live value's source time), else `seen_at` itself (the change came
    after the history was read, or the history has a hole up to now). A segment clipped at its window's start
    began at that start or before."""
    if segments:
        last = segments[-1]
        if last.state == canonical(state) and last.start <= seen_at:
            return last.start
    return seen_at
