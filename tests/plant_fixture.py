"""A small plant served by a SmallServer, for tests that need exact control of the values."""

from __future__ import annotations

from asyncua import ua

from hmi.config import PlantConfig, parse_config

PLANT_YAML = """
site:
  name: Test Plant
  timezone: Europe/Berlin
  shifts:
    - {{name: Early, start: "06:00", end: "14:00"}}
    - {{name: Late, start: "14:00", end: "22:00"}}
    - {{name: Night, start: "22:00", end: "06:00"}}
endpoints:
  - name: test
    url: {url}
    publishing_interval_ms: 100
areas:
  - name: Packing
    lines:
      - name: L1
        state_tag: L1.State
        speed_tag: L1.Speed
        good_count_tag: L1.Good
        reject_count_tag: L1.Reject
        trend_tags: [L1.Speed, L1.M1.Temp]
        oee: {{ideal_rate_per_min: 320}}
        tags:
          - {{name: L1.State, endpoint: test, node_id: "ns=2;s=L1.State", data_type: string}}
          - {{name: L1.Speed, endpoint: test, node_id: "ns=2;s=L1.Speed", unit: bpm, eng_range: [0, 600]}}
          - {{name: L1.Good, endpoint: test, node_id: "ns=2;s=L1.Good", data_type: int}}
          - {{name: L1.Reject, endpoint: test, node_id: "ns=2;s=L1.Reject", data_type: int}}
        machines:
          - name: M1
            tags:
              - name: L1.M1.Temp
                endpoint: test
                node_id: "ns=2;s=L1.M1.Temp"
                unit: °C
                normal_range: [60, 75]
                alarms:
                  - {{type: H, limit: 80, deadband: 2, priority: 2, message: "<b>Temp</b> high"}}
                  - {{type: HH, limit: 95, priority: 1, message: Temp very high}}
              - name: L1.M1.Pressure
                endpoint: test
                node_id: "ns=2;s=L1.M1.Pressure"
                unit: bar
                alarms:
                  - {{type: H, limit: 6, priority: 2, latching: true, message: Pressure high (latched),
                      consequence: Seal damage, action: Check the relief valve}}
              - name: L1.M1.Level
                endpoint: test
                node_id: "ns=2;s=L1.M1.Level"
                unit: "%"
                alarms:
                  - {{type: L, limit: 10, priority: 3, message: Level low,
                      suppress_when: {{tag: L1.State, not_equals: Execute}}}}
              - name: L1.M1.Jam
                endpoint: test
                node_id: "ns=2;s=L1.M1.Jam"
                data_type: bool
                alarms:
                  - {{type: discrete, value: true, priority: 1, message: Jam at M1}}
"""

INITIAL = {
    "L1.State": "Execute",
    "L1.Speed": 300.0,
    "L1.Good": ua.Variant(1000, ua.VariantType.Int64),
    "L1.Reject": ua.Variant(5, ua.VariantType.Int64),
    "L1.M1.Temp": 70.0,
    "L1.M1.Pressure": 4.0,
    "L1.M1.Level": 50.0,
    "L1.M1.Jam": False,
}


def small_plant(url: str) -> PlantConfig:
    """The test plant pointed at `url`."""
    return parse_config(PLANT_YAML.format(url=url), "test-plant.yaml")
