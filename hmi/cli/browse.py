"""`hmi browse URL`: write a starting plant configuration from what an OPC UA server serves."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from hmi.browse import BrowseError, browse_server, render_yaml


def register(sub: Any) -> None:
    """Add the `browse` sub-command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "browse",
        help="write a starting configuration from an OPC UA server",
        description="Connect anonymously (no security), walk the Objects folder and print a plant configuration "
        "with one machine per object and one tag per variable (unit and eng_range from EngineeringUnits and EURange). "
        "Writable variables and methods appear as commented write and command candidates; alarm conditions are "
        "left out.",
    )
    p.add_argument("url", help="server address, e.g. opc.tcp://127.0.0.1:4840")
    p.add_argument("--out", type=Path, default=None, metavar="FILE", help="write the YAML here instead of stdout")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S", help="seconds to wait for the server")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Print or write the configuration (exit 0), or say why not (exit 1)."""
    out: Path | None = args.out
    if out is not None and out.exists() and not args.force:
        print(f"error: {out} exists; choose another file or add --force to overwrite it", file=sys.stderr)
        return 1
    try:
        result = asyncio.run(browse_server(args.url, timeout_s=args.timeout))
        text = render_yaml(result)
    except BrowseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        # The command talks to arbitrary servers; whatever goes wrong, the user gets a sentence, not a traceback.
        print(f"error: browsing {args.url} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if out is None:
        sys.stdout.write(text)
    else:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    print(result.summary() + (f"; written to {out}" if out else ""), file=sys.stderr)
    return 0
