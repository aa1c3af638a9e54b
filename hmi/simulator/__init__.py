"""A simulated bottling plant: a pure process model served by an asyncua server (demo, tests, benchmarks)."""

from __future__ import annotations

from pathlib import Path

from hmi import assets  # type: ignore[attr-defined]  # mapped from assets/ by package-dir (see hmi/config.py)
from hmi.simulator.model import LoadModel, ModelParams, PlantModel, Sample
from hmi.simulator.server import PlantSimulator, simulated_endpoint

__all__ = [
    "LoadModel",
    "ModelParams",
    "PlantModel",
    "PlantSimulator",
    "Sample",
    "demo_config_path",
    "simulated_endpoint",
]


def demo_config_path() -> Path:
    """The demo plant configuration shipped in the package (hmi.assets)."""
    path: Path = assets.path(assets.DEMO_PLANT)
    return path
