"""Files the package ships: the demo plant, its recipes and the screens' style sheet (the package `hmi.assets`).

The repository keeps them in its top-level assets/ folder; pyproject.toml maps that folder onto `hmi.assets`, so a
wheel and an editable install find them the same way, through importlib.resources, from any working directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEMO_PLANT = "demo-plant.yaml"
DEMO_RECIPES = "demo-recipes.yaml"
STYLE_SHEET = "hmi.css"
A11Y_SCRIPT = "a11y.js"


def path(name: str) -> Path:
    """The shipped file `name` on disk (pip always unpacks a wheel, so it is a real file one can open or copy)."""
    return Path(str(resources.files(__name__).joinpath(name)))


def read_text(name: str) -> str:
    """The text of the shipped file `name`."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
