"""The one set of subscription parameters for data changes and Alarms & Conditions events."""

from __future__ import annotations

import pytest

from hmi.sources.opcua import subscription_parameters


@pytest.mark.parametrize(("interval_ms", "keep_alive"), [(250, 4), (1000, 1), (300, 4), (5000, 1)])
def test_keep_alive_at_least_every_second_and_lifetime_ten_keep_alives(interval_ms: int, keep_alive: int) -> None:
    params = subscription_parameters(interval_ms)
    assert params.RequestedPublishingInterval == interval_ms
    assert (params.RequestedMaxKeepAliveCount, params.RequestedLifetimeCount) == (keep_alive, keep_alive * 10)
    assert (params.MaxNotificationsPerPublish, params.PublishingEnabled, params.Priority) == (0, True, 0)
