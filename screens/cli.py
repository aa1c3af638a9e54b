"""`hmi run` and `hmi demo`: the commands that serve the screens (plugged into `hmi` by entry point)."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hmi.access.roles import Role
from hmi.config import AccessPolicy, ConfigError, PlantConfig, load_config, parse_config
from hmi.mqtt.settings import MqttConfig, sparkplug_id
from hmi.private_files import create_private_file, private_dir
from hmi.store.database import Database, DatabaseUnavailable, resolve_db_url
from hmi.supervise import stop_tasks

DEMO_USERS = (
    ("operator", Role.OPERATOR),
    ("lead", Role.LEAD),
    ("engineer", Role.ENGINEER),
    ("manager", Role.MANAGER),
    ("admin", Role.ADMIN),
)


def register(sub: Any) -> None:
    """Add the `run` and `demo` sub-commands."""
    run = sub.add_parser("run", help="serve the HMI for a plant configuration (production entry point)")
    run.add_argument("--config", required=True, help="plant YAML file (see `hmi check`)")
    _common(run)
    run.add_argument(
        "--watch-plant",
        action="store_true",
        help="apply the plant file by itself when it is saved (as `hmi reload` would; invalid files are refused)",
    )
    run.set_defaults(handler=handle_run)

    demo = sub.add_parser("demo", help="start a simulated bottling plant and the HMI on SQLite, nothing to set up")
    _common(demo)
    demo.add_argument("--seed", type=int, default=None, help="make the simulated plant repeatable")
    demo.add_argument(
        "--watch-plant", action="store_true", help="apply the demo's plant file by itself when it is saved"
    )
    demo.add_argument(
        "--history-hours",
        type=float,
        default=8.0,
        help="fill an empty history with this many simulated hours before now (default 8; 0: none)",
    )
    demo.add_argument(
        "--mqtt",
        metavar="URL",
        default=None,
        help="publish the demo plant to this MQTT broker, e.g. mqtt://127.0.0.1:1883 (docs/mqtt.md)",
    )
    demo.add_argument(
        "--mqtt-format",
        choices=("uns", "sparkplug"),
        default="uns",
        help="uns: JSON per tag topic, retained (default); sparkplug: Sparkplug B edge node",
    )
    demo.add_argument(
        "--mqtt-root", default="factory-hmi", help="topic root (uns) or Sparkplug group id (default factory-hmi)"
    )
    demo.set_defaults(handler=handle_demo)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080)")
    p.add_argument("--db", default=None, help="database URL (default: SQLite under --data-dir; env HMI_DB_URL)")
    p.add_argument(
        "--data-dir",
        default="./hmi-data",
        type=Path,
        help="where the SQLite file and session storage live (default ./hmi-data)",
    )


def _fail(message: str, code: int = 1) -> int:
    print(f"hmi: {message}", file=sys.stderr)
    return code


async def _check_database(url: str) -> str:
    # Only a check: the runtime installs the append-only guards and records that in the audit trail.
    db = Database(url, install_guards=False)
    await db.start()
    try:
        return db.describe()
    finally:
        await db.stop()


def _prepare(args: argparse.Namespace) -> tuple[str, str] | int:
    """Database URL and session secret, or an exit code after a clear message."""
    data_dir: Path = args.data_dir.expanduser().absolute()
    try:
        # Private from the start: it holds the database, the session secret and the audit key.
        private_dir(data_dir)
    except OSError as exc:
        return _fail(f"cannot create the data directory {data_dir}: {exc}; choose another with --data-dir")
    try:
        url = resolve_db_url(args.db, data_dir)
        described = asyncio.run(_check_database(url))
    except ValueError as exc:
        return _fail(str(exc))
    except DatabaseUnavailable as exc:
        return _fail(str(exc))
    print(f"Database: {described}", flush=True)
    # NiceGUI keeps per-browser session data here; set before nicegui is imported.
    os.environ.setdefault("NICEGUI_STORAGE_PATH", str(data_dir / "sessions"))
    return url, storage_secret(data_dir)


def storage_secret(data_dir: Path) -> str:
    """The key that signs session cookies: from HMI_STORAGE_SECRET, else generated once and kept in the data dir."""
    if secret := os.environ.get("HMI_STORAGE_SECRET"):
        return secret
    path = data_dir / "storage-secret"
    # 0600 from the first byte (never write-then-chmod); a second process starting at once reads the first's.
    create_private_file(path, secrets.token_urlsafe(32).encode())
    return path.read_text(encoding="utf-8").strip()


def _warn_if_exposed(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        print(
            f"hmi: serving on {host}: reachable from the network. Put it behind TLS (a reverse proxy) in a plant.",
            file=sys.stderr,
        )


def session_cookie(access: AccessPolicy) -> dict[str, Any]:
    """Options of the signed session cookie: it lives no longer than a session, and is Secure behind TLS."""
    # Starlette's default is 14 days; the server-side session ends sooner anyway, the cookie should not outlive it.
    return {
        "max_age": max(1, round(access.session_hours * 3600)),
        "https_only": access.secure_cookies,
        "same_site": "lax",
    }


# `hmi run`'s exit status when it stopped because it lost the active role (EX_TEMPFAIL): start it again.
EXIT_LOST_ACTIVE_ROLE = 75


def _serve(runtime: Any, args: argparse.Namespace, secret: str, **hooks: Any) -> int:
    """Serve until stopped; 0, or EXIT_LOST_ACTIVE_ROLE after an active instance lost its lock connection."""
    from nicegui import app, ui

    from screens.app import setup

    runtime.instance = f"{socket.gethostname()}:{args.port}"
    # An active instance that can no longer prove it is the only one stops at once; its service manager starts it
    # again and it comes back as a standby (hmi/cluster/leadership.py).
    runtime.on_fatal = lambda _reason: app.shutdown()
    setup(runtime, **hooks)
    _warn_if_exposed(args.host)
    ui.run(
        host=args.host,
        port=args.port,
        title=runtime.plant.site.name,
        reload=False,
        show=False,
        storage_secret=secret,
        session_middleware_kwargs=session_cookie(runtime.plant.access),
        show_welcome_message=False,
        favicon="🏭",
        reconnect_timeout=5.0,
        # An API event stream (hmi/api/stream.py) never ends by itself: at shutdown uvicorn would wait for it
        # forever; open requests get this long, then they are cancelled and the runtime stops.
        timeout_graceful_shutdown=5,
    )
    if runtime.fatal:
        return _fail(f"stopped: {runtime.fatal}; start it again and it stands by", EXIT_LOST_ACTIVE_ROLE)
    return 0


def handle_run(args: argparse.Namespace) -> int:
    """Serve the HMI for a plant file."""
    try:
        plant = load_config(args.config)
    except ConfigError as exc:
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return _fail(f"{args.config} is not a valid plant configuration; run `hmi check {args.config}`", 2)
    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    url, secret = prepared
    from hmi.runtime import Runtime

    runtime = Runtime(
        plant,
        Database(url),
        config_path=Path(args.config),
        data_dir=args.data_dir.expanduser().absolute(),
        # `hmi reload --data-dir DIR` reaches this process (docs/architecture.md, "Plant changes at run time").
        reload_channel=True,
        watch_plant=args.watch_plant,
    )
    print(f"HMI for {plant.site.name}: http://{args.host}:{args.port}", flush=True)
    return _serve(runtime, args, secret)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_plant(port: int) -> PlantConfig:
    """The demo plant with its endpoint pointed at a simulator on `port`."""
    from hmi.simulator import demo_config_path

    return at_simulator(load_config(demo_config_path()), port)


# `hmi demo` runs from a copy of the demo plant in its data directory, so it can be edited and reloaded.
DEMO_PLANT_FILE = "demo-plant.yaml"
# The folder of the demo plant's display drawings, beside the plant file (shipped in the package, copied with it).
DEMO_DISPLAYS = "displays"


def demo_mqtt(args: argparse.Namespace) -> MqttConfig | None:
    """The `mqtt:` section `hmi demo --mqtt URL` publishes with (None without --mqtt); ValueError when invalid."""
    if not args.mqtt:
        return None
    section: dict[str, Any] = {"url": args.mqtt, "format": args.mqtt_format, "topic_root": args.mqtt_root}
    if args.mqtt_format == "sparkplug":
        section["sparkplug"] = {"group_id": sparkplug_id(args.mqtt_root), "edge_node_id": "demo-hmi"}
    try:
        return MqttConfig.model_validate(section)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'mqtt'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"--mqtt: {problems}") from None


def at_simulator(plant: PlantConfig, port: int, mqtt: MqttConfig | None = None) -> PlantConfig:
    """`plant` with every endpoint pointed at the simulator on `port`."""
    endpoints = tuple(
        e.model_copy(update={"url": f"opc.tcp://127.0.0.1:{port}"}) if e.kind == "opcua" else e for e in plant.endpoints
    )
    # Every section of the file (alarm policy, historian, downtime reasons, ...) stays; only the URL moves (and the
    # broker `hmi demo --mqtt` names replaces the file's `mqtt:` section).
    fields = {name: getattr(plant, name) for name in PlantConfig.model_fields}
    if mqtt is not None:
        fields["mqtt"] = mqtt
    # The drawings read with the file stay: a reload's diff compares their hashes with the files read then.
    return PlantConfig.model_validate({**fields, "endpoints": endpoints}).keep_drawings(plant)


async def seed_recipes(runtime: Any, password: str) -> int:
    """The demo recipes on a first start: drafts by the demo engineer, approved and signed by the demo manager."""
    from hmi import assets  # type: ignore[attr-defined]  # see hmi/config.py
    from hmi.access.context import ActionContext
    from hmi.control.recipes import seed_demo

    people = []
    for name in ("engineer", "manager"):
        user = await runtime.users.get(name)
        if user is None or user.id is None:
            return 0
        people.append(ActionContext(user.id, user.username, user.full_name, user.role, station="demo"))
    text = await asyncio.to_thread(assets.read_text, assets.DEMO_RECIPES)
    return await seed_demo(runtime.recipes, text=text, author=people[0], approver=people[1], approver_password=password)


def handle_demo(args: argparse.Namespace) -> int:
    """Simulator + HMI + SQLite + demo accounts, in one process."""
    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    url, secret = prepared
    from hmi.runtime import DemoInfo, Runtime
    from hmi.simulator import PlantSimulator
    from hmi.simulator.backfill import Backfill, history_is_empty

    password = os.environ.get("HMI_DEMO_PASSWORD") or "demo"
    sim_port = _free_port()
    data_dir = args.data_dir.expanduser().absolute()
    plant_file = data_dir / DEMO_PLANT_FILE
    from hmi import assets  # type: ignore[attr-defined]  # see hmi/config.py

    # The first start copies the shipped demo plant and its display drawings (the plant names them relative to
    # its own folder); later starts (and `hmi reload`) use the copies as edited.
    create_private_file(plant_file, assets.read_text(assets.DEMO_PLANT).encode("utf-8"))
    shipped = assets.path(DEMO_DISPLAYS)
    for drawing in sorted(shipped.glob("*.svg")):
        create_private_file(data_dir / DEMO_DISPLAYS / drawing.name, drawing.read_bytes())

    try:
        mqtt = demo_mqtt(args)
    except ValueError as exc:
        return _fail(str(exc), 2)

    def load_demo(text: str, name: str) -> PlantConfig:
        return at_simulator(parse_config(text, name, base_dir=plant_file.parent), sim_port, mqtt)

    try:
        plant = load_demo(plant_file.read_text(encoding="utf-8"), str(plant_file))
    except ConfigError as exc:
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return _fail(f"{plant_file} is not a valid plant configuration; fix it or delete it for the shipped one", 2)
    simulator = PlantSimulator(plant, host="127.0.0.1", port=sim_port, seed=args.seed)
    # A password chosen through the environment is not printed on the login page for all to read.
    hint = "set by HMI_DEMO_PASSWORD" if os.environ.get("HMI_DEMO_PASSWORD") else password
    runtime = Runtime(
        plant,
        Database(url),
        demo=DemoInfo(DEMO_USERS, hint),
        data_dir=data_dir,
        config_path=plant_file,
        plant_loader=load_demo,
        reload_channel=True,
        watch_plant=args.watch_plant,
    )

    backfills: list[asyncio.Task[int]] = []

    async def before_start() -> None:
        await simulator.start()
        # With the audit key taken up, so the demo accounts' audit rows are keyed like every later one.
        await runtime.open_records()
        for name, role in DEMO_USERS:
            if await runtime.users.get(name) is None:
                await runtime.users.create_user(
                    name, password, role, full_name=f"Demo {role.value}", enforce_policy=False
                )
        try:
            await seed_recipes(runtime, password)
        except Exception:
            # The demo's recipes are a nicety: the HMI starts without them.
            logging.getLogger(__name__).exception("the demo recipes could not be set up")
        if args.history_hours > 0 and await history_is_empty(runtime.db):
            # In the background: the screens are usable at once and the past fills in within half a minute.
            fill = Backfill(plant, hours=args.history_hours, now=runtime.clock(), seed=args.seed)
            backfills.append(asyncio.create_task(fill.run(runtime.db), name="demo-history"))

    async def after_stop() -> None:
        await stop_tasks(*backfills)
        await simulator.stop()

    print(f"Demo plant simulator: {simulator.url}", flush=True)
    print(f"HMI demo: http://{args.host}:{args.port}", flush=True)
    print(f"Demo plant file: {plant_file} (edit it, then: hmi reload --data-dir {data_dir})", flush=True)
    if plant.mqtt is not None:
        print(f"MQTT: publishing the plant to {plant.mqtt.url} ({plant.mqtt.format})", flush=True)
    print(f"Demo users (password: {hint}): " + ", ".join(f"{n} ({r.value})" for n, r in DEMO_USERS), flush=True)
    return _serve(runtime, args, secret, before_start=before_start, after_stop=after_stop)
