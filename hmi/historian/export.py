"""CSV of a trend as it is shown: every point of every pen, gaps included, in UTC and plant local time."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from hmi.config import PlantConfig
from hmi.records.export_cells import safe_cell

COLUMNS = ("time_utc", "time_local", "zone", "tag", "value", "unit", "quality", "downsampled")


class SeriesLike(Protocol):
    """What the export needs of a historian series."""

    tag: str
    times: Sequence[datetime]
    values: Sequence[float | None]
    downsampled: bool
    bad_spans: Sequence[tuple[datetime, datetime, str]]


def _quality_at(spans: Sequence[tuple[datetime, datetime, str]], at: datetime) -> str:
    for start, end, quality in spans:
        if start <= at <= end:
            return quality
    return "no value"


def trend_csv(series: Mapping[str, SeriesLike], plant: PlantConfig, zone: ZoneInfo) -> str:
    """The pens' points as CSV; a gap is a row without a value that says why (bad, stale, no data)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for name, s in series.items():
        ref = plant.tags.get(name)
        unit = ref.tag.unit if ref else ""
        for at, value in zip(s.times, s.values, strict=True):
            quality = "good" if value is not None else _quality_at(s.bad_spans, at)
            writer.writerow(
                [
                    safe_cell(v)
                    for v in (
                        at.astimezone(UTC).isoformat(timespec="milliseconds"),
                        at.astimezone(zone).isoformat(timespec="milliseconds"),
                        zone.key,
                        name,
                        "" if value is None else repr(float(value)),
                        unit,
                        quality,
                        "min/max" if s.downsampled else "raw",
                    )
                ]
            )
    return out.getvalue()
