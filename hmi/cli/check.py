"""`hmi check FILE`: validate a plant configuration."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hmi.config import ConfigError, load_config


def register(sub: Any) -> None:
    """Add the `check` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser("check", help="validate a plant configuration file")
    p.add_argument("file", help="plant YAML file")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Print OK, a summary and any warnings (exit 0) or every problem (exit 2)."""
    try:
        plant = load_config(args.file)
    except ConfigError as exc:
        return config_problems(args.file, exc)
    print("OK")
    print(plant.summary())
    for warning in plant.warnings:
        print(f"  warning: {warning}", file=sys.stderr)
    return 0


def config_problems(path: object, exc: ConfigError) -> int:
    """Say every problem of the plant file `path` on stderr; returns the exit code for it (2)."""
    print(f"{path}: {len(exc.issues)} problem(s)", file=sys.stderr)
    for issue in exc.issues:
        print(f"  {issue}", file=sys.stderr)
    return 2
