"""The key values' small trends under the line picture, with NiceGUI's simulated user on a real runtime and a real
OPC UA server whose values the test changes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hmi.config import PlantConfig, parse_config
from screens import line as line_screen
from tests.plant_fixture import INITIAL, PLANT_YAML
from tests.screens.conftest import Harness, element, harness_on

# The small test plant with a range on M1's temperature: its one key value.
AT_70 = 2 + 44 * (1 - 70 / 120)  # the y of 70 °C on 0..120 in the 48 px box with 2 px padding
RANGED = PLANT_YAML.replace("unit: °C\n", "unit: °C\n                eng_range: [0, 120]\n", 1)


@pytest.fixture
async def hmi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    monkeypatch.setattr(line_screen, "KEY_TREND_S", 0.2)

    def plant(url: str) -> PlantConfig:
        return parse_config(RANGED.format(url=url), "key-trends.yaml")

    async with harness_on(tmp_path, plant, INITIAL) as harness:
        yield harness


def drawing(hmi: Harness) -> str:
    return str(element(hmi, "spark-key-L1.M1.Temp").content)


def ys(svg: str) -> list[float]:
    """The y of every drawn point (0 is the top of the 48 px box)."""
    return [float(y) for y in re.findall(r"[\d.]+,([\d.]+)", svg)]


@pytest.mark.req("LGX-012")
async def test_key_values_show_a_small_trend_that_follows_the_value(hmi: Harness) -> None:
    await hmi.login("olga")
    await hmi.user.open("/line/L1")
    await hmi.user.should_see(marker="key-trends")
    await hmi.user.should_see(marker="key-trends-M1")
    await hmi.user.should_see("Temp (°C)", marker="key-trends-M1")
    await hmi.user.should_see(marker="spark-key-L1.M1.Temp")
    first = drawing(hmi)
    # Grey (the overview's sparkline classes), on the range 0..120 with the normal range 60..75 as a band.
    assert 'class="ovw-spark-line"' in first
    assert 'class="ovw-spark-band"' in first
    assert 'aria-label="Temp of M1, last hour"' in first
    assert "stroke=" not in first
    assert "fill=" not in first  # no colour of its own: ISA-101 grey from assets/hmi.css
    assert ys(first)
    assert all(y == pytest.approx(AT_70, abs=0.1) for y in ys(first))  # 70 °C held since the start

    await hmi.server.write("L1.M1.Temp", 118.0)
    await hmi.until(lambda: drawing(hmi) != first, what="the trend to draw the new value")
    await hmi.until(lambda: min(ys(drawing(hmi))) < 4.0, what="the trend to reach 118 °C near the top")
    assert max(ys(drawing(hmi))) == pytest.approx(AT_70, abs=0.1)  # the earlier 70 °C is kept
    # The other machines' values have no range: no trend, and the picture's own machines stay the same.
    assert hmi.rt.key_trends.names == {"L1.M1.Temp"}
