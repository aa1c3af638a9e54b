"""A simulated bottling plant: a pure process model served by an asyncua server (demo, tests, benchmarks)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from hmi.simulator.model import LoadModel, ModelParams, PlantModel, Sample
from hmi.simulator.server import PlantSimulator, simulated_endpoint

__all__ = ["LoadModel", "ModelParams", "PlantModel", "PlantSimulator", "Sample", "demo_config_path",
           "simulated_endpoint"]

DEMO_FILE = "demo-plant.yaml"


def demo_config_path() -> Path:
    """The demo plant configuration: assets/ of a source checkout, else the copy packaged as hmi/assets."""
    checkout = Path(__file__).resolve().parents[2] / "assets" / DEMO_FILE
    if checkout.is_file():
        return checkout
    # An installed wheel has no repository around it; the file then ships inside the package.
    return Path(str(resources.files("hmi").joinpath("assets", DEMO_FILE)))
