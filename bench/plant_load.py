"""Plant file benchmark: how long a large plant file takes to load and validate (what `hmi check`, `hmi run` and
`hmi reload` do first).

Writes a plant of N load tags (default 50,000, each with a unit and an H alarm, as `hmi browse` writes them) to a
scratch file and times `hmi.config.load_config` on it, three times, keeping the best. With `--compare` it also times
the same file with PyYAML's pure-Python loader, to show what the C loader (libyaml) buys. Last line:
  tags=N file_mib=F load_s=A [python_loader_s=B speedup=B/A]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hmi import config  # noqa: E402


def plant_text(n: int) -> str:
    tags = "\n".join(
        f"          - {{name: Load.Tag{i:05d}, endpoint: sim, node_id: 'ns=2;s=Load.Tag{i:05d}', unit: '%', "
        f"alarms: [{{type: H, limit: 95, deadband: 1, priority: 4, message: load {i} high}}]}}"
        for i in range(1, n + 1)
    )
    return (
        "site: {name: Scale, timezone: UTC}\n"
        "endpoints: [{name: sim, url: 'opc.tcp://127.0.0.1:4840'}]\n"
        f"areas:\n  - name: Load\n    lines:\n      - name: Load\n        tags:\n{tags}\n"
    )


def best_of(path: Path, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        plant = config.load_config(path)
        best = min(best, time.perf_counter() - started)
        del plant
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compare", action="store_true", help="also time PyYAML's pure-Python loader (slow)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "plant.yaml"
        path.write_text(plant_text(args.tags), encoding="utf-8")
        size = path.stat().st_size / 2**20
        load_s = best_of(path, args.runs)
        line = f"tags={args.tags} file_mib={size:.1f} load_s={load_s:.2f}"
        if args.compare:
            config._LOADER = yaml.SafeLoader  # the benchmark swaps the loader on purpose
            python_s = best_of(path, 1)
            line += f" python_loader_s={python_s:.2f} speedup={python_s / load_s:.1f}"
    print(line)


if __name__ == "__main__":
    main()
