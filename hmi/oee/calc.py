"""OEE after ISO 22400-2 (OEE index = availability x effectiveness x quality ratio): pure arithmetic, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

# Performance is a ratio of floats; 1.0 reached exactly at the ideal rate must not be flagged by rounding noise.
_FLAG_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class OeeResult:
    """OEE and its three factors with the inputs they came from; a factor is None when its denominator is 0."""

    planned_busy_s: float
    actual_production_s: float
    ideal_cycle_s: float
    produced: float
    good: float
    availability: float | None
    performance: float | None
    quality: float | None
    oee: float | None
    performance_flagged: bool


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def compute_oee(
    planned_busy_s: float, actual_production_s: float, ideal_cycle_s: float, produced: float, good: float
) -> OeeResult:
    """Availability, performance, quality and OEE; performance above 1.0 is flagged, never capped."""
    for name, value in (
        ("planned_busy_s", planned_busy_s),
        ("actual_production_s", actual_production_s),
        ("ideal_cycle_s", ideal_cycle_s),
        ("produced", produced),
        ("good", good),
    ):
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")
    availability = _ratio(actual_production_s, planned_busy_s)
    performance = _ratio(ideal_cycle_s * produced, actual_production_s)
    quality = _ratio(good, produced)
    # A x P x Q cancels to good x ideal cycle / planned busy time (ISO 22400 "fully productive time" over planned
    # busy time); computed that way OEE is also defined when the line never ran (0) or produced nothing.
    oee = _ratio(ideal_cycle_s * good, planned_busy_s)
    flagged = performance is not None and performance > 1.0 + _FLAG_TOLERANCE
    return OeeResult(
        planned_busy_s,
        actual_production_s,
        ideal_cycle_s,
        produced,
        good,
        availability,
        performance,
        quality,
        oee,
        flagged,
    )
