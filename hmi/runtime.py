"""The runtime wires sources -> cache -> alarms / trends -> store, and starts and stops them in order."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import socket
import tempfile
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from hmi.access.api_tokens import ApiTokenService
from hmi.access.appearance import AppearanceService
from hmi.access.auth import UserService
from hmi.access.context import ActionContext
from hmi.access.roles import Role
from hmi.access.sessions import SessionService
from hmi.access.stations import StationService
from hmi.alarms.engine import AlarmEngine
from hmi.alarms.journal import AlarmJournal
from hmi.alarms.service import AlarmService
from hmi.clock import Clock, utc_now
from hmi.cluster.commands import CommandChannel
from hmi.cluster.feed import FeedPublisher, FeedReceiver
from hmi.cluster.leadership import Leadership
from hmi.cluster.notes_feed import NotesFeed
from hmi.config import Endpoint, PlantConfig
from hmi.control.recipes import RecipeService
from hmi.control.writes import WriteService
from hmi.graphics.sparkline import KEY_WINDOW, key_value_names
from hmi.historian import Historian, HistoryQuery
from hmi.historian.live import TrendBuffer
from hmi.historian.views import TrendViews
from hmi.memory import TRIM_S, trim_free_memory, trimming
from hmi.mqtt.publisher import MqttPublisher
from hmi.notify.service import Notifier
from hmi.oee.service import OeeService
from hmi.overview import OverviewFigures
from hmi.plant_reload import PlantLoader, PlantReloader, ReloadResult
from hmi.plant_watch import PlantWatcher
from hmi.records.audit import AuditLog, record_guard_report
from hmi.records.audit_anchor import ANCHOR_FILE_NAME, AnchorFile, AnchorKeeper
from hmi.records.audit_key import AuditKeyError, load_or_create_key, resolve_key_file
from hmi.records.backup import DatabaseLock
from hmi.records.config_audit import record_config
from hmi.records.handover import HandoverService
from hmi.records.notes import ShiftNotes
from hmi.records.signatures import SignatureService
from hmi.reload_channel import ReloadChannel
from hmi.shifts import ShiftSlot, current_shift
from hmi.sources import StatusBoard
from hmi.sources.mqtt import MqttSource
from hmi.sources.opcua import OpcUaSource
from hmi.sources.server_alarms import ConditionMonitor, SeverityMap
from hmi.store.database import Database
from hmi.store.models import SCHEME_HMAC, AuditEntry
from hmi.store.quarantine import Quarantine
from hmi.supervise import every, stop_tasks, wait_event
from hmi.tags import TagCache

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DemoInfo:
    """Shown on the login page in demo mode only: the demo accounts and their password."""

    users: Sequence[tuple[str, Role]]
    password_hint: str


@dataclass
class Runtime:
    """Everything one HMI instance runs. Screens get this object and call its services."""

    plant: PlantConfig
    db: Database
    clock: Clock = utc_now
    demo: DemoInfo | None = None
    trend_window: timedelta = timedelta(minutes=15)
    # The plant file `plant` was loaded from; when set, a changed file is audited at start (21 CFR 11.10(e),
    # EU GMP Annex 11 §10).
    config_path: Path | None = None
    # Where the historian keeps samples while the database is unreachable (store and forward).
    data_dir: Path | None = None
    # The audit HMAC key (default: $HMI_AUDIT_KEY_FILE, else audit.key in data_dir; created on first start) and
    # the anchor file (default: audit.anchor in data_dir). Without either the trail is unkeyed / unanchored.
    audit_key_file: Path | None = None
    anchor_file: Path | None = None
    # Plant changes at run time (hmi/plant_reload.py): how the plant file's text becomes a plant (`hmi demo` points
    # it at its simulator), whether `hmi reload` can reach this process (a pid file and request folder in
    # data_dir, SIGHUP), and whether a saved plant file is applied by itself.
    plant_loader: PlantLoader | None = None
    reload_channel: bool = False
    watch_plant: bool = False
    # This instance's name among those sharing one PostgreSQL database (hmi/cluster/): shown when it takes over.
    instance: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    # Called when this instance must stop at once (it lost the active role's lock connection); `hmi run` exits.
    on_fatal: Callable[[str], None] | None = None
    cache: TagCache = field(init=False)
    board: StatusBoard = field(init=False)
    alarms: AlarmEngine = field(init=False)
    journal: AlarmJournal = field(init=False)
    quarantine: Quarantine = field(init=False)
    audit: AuditLog = field(init=False)
    users: UserService = field(init=False)
    sessions: SessionService = field(init=False)
    stations: StationService = field(init=False)
    api_tokens: ApiTokenService = field(init=False)  # the REST API's bearer tokens (hmi/api)
    appearance: AppearanceService = field(init=False)
    notes: ShiftNotes = field(init=False)
    alarm_service: AlarmService = field(init=False)
    signatures: SignatureService = field(init=False)
    handover: HandoverService = field(init=False)
    live_trends: TrendBuffer = field(init=False)  # the live ring buffer of the trend screens
    key_trends: TrendBuffer = field(init=False)  # the last hour of the machines' key values (line screen)
    recorder: Historian = field(init=False)  # writes tag values to the database historian
    history: HistoryQuery = field(init=False)  # reads the database historian
    oee: OeeService = field(init=False)
    overview: OverviewFigures = field(init=False)  # the overview's OEE and sparklines, read for all pages at once
    trend_views: TrendViews = field(init=False)
    recipes: RecipeService = field(init=False)
    sources: list[OpcUaSource] = field(init=False)
    mqtt_sources: list[MqttSource] = field(init=False)  # endpoints whose tags come from an MQTT broker
    control: WriteService = field(init=False)  # every write, command and recipe download
    conditions: dict[str, ConditionMonitor] = field(init=False)
    mqtt: MqttPublisher | None = field(init=False, default=None)  # the plant file's `mqtt:` section (docs/mqtt.md)
    notifier: Notifier = field(init=False)  # e-mails and webhooks about unacknowledged alarms (hmi/notify/)
    started: bool = field(init=False, default=False)
    # Counts the plant configurations applied since start; pages rebuild when it moves (screens/plant_change.py).
    plant_generation: int = field(init=False, default=0)
    reloader: PlantReloader = field(init=False)
    _plant_tasks: list[ReloadChannel | PlantWatcher] = field(init=False, repr=False, default_factory=list)
    start_error: str | None = field(init=False, default=None)
    # What start-up (or the anchor task) found that an administrator must see: re-installed guards, anchor trouble.
    findings: list[str] = field(init=False, default_factory=list)
    anchors: AnchorKeeper | None = field(init=False, default=None)
    _db_lock: DatabaseLock | None = field(init=False, repr=False, default=None)
    _records_open: bool = field(init=False, repr=False, default=False)
    _ready: asyncio.Event = field(init=False, repr=False)
    _ticker: asyncio.Task[None] | None = field(init=False, repr=False, default=None)
    _trimmer: asyncio.Task[None] | None = field(init=False, repr=False, default=None)
    # On PostgreSQL, which instance acts (hmi/cluster/leadership.py); None on SQLite (one process per file).
    leadership: Leadership | None = field(init=False, default=None)
    # True while this instance holds the OPC UA sessions and runs alarms, journal and historian; a standby does not.
    active: bool = field(init=False, default=False)
    # When this instance took over from another (None if it was active from its start): shown on its screens.
    took_over_at: datetime | None = field(init=False, default=None)
    fatal: str | None = field(init=False, default=None)
    # The live values from the active instance to the standbys (hmi/cluster/feed.py); PostgreSQL only.
    feed_out: FeedPublisher | None = field(init=False, default=None)
    feed_in: FeedReceiver | None = field(init=False, default=None)
    # Alarm commands and writes given on a standby, run by the active instance (hmi/cluster/commands.py), and shift
    # notes told to the other instances (hmi/cluster/notes_feed.py); PostgreSQL only.
    commands: CommandChannel | None = field(init=False, default=None)
    notes_feed: NotesFeed | None = field(init=False, default=None)
    _acting: bool = field(init=False, repr=False, default=False)  # the active instance's parts run (to be stopped)
    # Owned tasks (owned_tasks) that ended on an exception or by themselves while the instance acted: each one is
    # work silently no longer done (GET /api/v1/health shows the count; bench/soak.py reports it).
    tasks_died: int = field(init=False, default=0)
    _winding_down: bool = field(init=False, repr=False, default=False)
    _watched: weakref.WeakSet[asyncio.Task[Any]] = field(init=False, repr=False, default_factory=weakref.WeakSet)

    def __post_init__(self) -> None:
        self._ready = asyncio.Event()
        self.cache = TagCache()
        self.board = StatusBoard()
        self.audit = AuditLog(self.db, self.clock)
        self.users = UserService(self.db, self.audit, self.clock, policy=self.plant.access)
        self.sessions = self.users.sessions
        self.stations = StationService(self.db, self.audit, self.clock)
        self.api_tokens = ApiTokenService(self.db, self.audit, self.clock)
        self.appearance = AppearanceService(
            self.db, self.audit, lambda: (self.plant.site.theme, self.plant.site.language)
        )
        self.notes = ShiftNotes(self.db, self.audit, self.clock)
        self.alarms = AlarmEngine(self.plant, self.cache, self.clock)
        # Rows the database refuses (not for being away) are set aside here; engineers see the count in a banner.
        self.quarantine = Quarantine(self.db, self.local_dir("quarantine") / "quarantine.jsonl", self.clock)
        policy = self.plant.alarm_policy
        self.journal = AlarmJournal(
            self.alarms,
            self.db,
            self.clock,
            max_pending=policy.journal_max_pending,
            behind_at=policy.journal_behind_at,
            quarantine=self.quarantine,
            spill_dir=self.local_dir("journal-spill"),
        )
        self.signatures = SignatureService(self.db, self.audit, self.users, self.clock)
        self.alarm_service = AlarmService(
            self.alarms,
            self.db,
            self.audit,
            self.clock,
            max_shelve=timedelta(hours=self.plant.alarm_policy.max_shelve_h),
            signature_policy=self.plant.signatures,
            signatures=self.signatures,
            acting=lambda: self.active or self.leadership is None,  # a single server always acts
        )
        self.oee = OeeService(self.plant, self.db, self.audit, self.clock)
        self.handover = HandoverService(
            self.plant,
            self.db,
            self.audit,
            self.signatures,
            self.notes,
            self.alarms,
            self.cache,
            self.clock,
            counts=self.oee.counts,
        )
        numeric = [name for name, ref in self.plant.tags.items() if ref.tag.numeric]
        self.live_trends = TrendBuffer(self.cache, numeric, self.trend_window)
        # The key values' small trends on the line screen reach back an hour: a buffer of their own, so the other
        # tags keep only the live trend's window (the newest 3,600 changes each: an hour at one change a second).
        self.key_trends = TrendBuffer(self.cache, key_value_names(self.plant), KEY_WINDOW, max_points=3600)
        self.recorder = Historian(
            self.plant, self.cache, self.db, self.spool_dir(), self.clock, quarantine=self.quarantine
        )
        self.history = HistoryQuery(self.db, self.plant)
        self.overview = OverviewFigures(self.plant, self.oee, self.history, self.clock)
        self.trend_views = TrendViews(self.plant, self.db, self.audit, self.clock)
        self.sources = []
        self.conditions = {}
        self.mqtt_sources = []
        for endpoint in self.plant.endpoints:
            tags = [ref.tag for ref in self.plant.tags.values() if ref.tag.endpoint == endpoint.name]
            if endpoint.kind == "mqtt":
                # Read only, no Alarms & Conditions: the write service and the condition monitors are OPC UA's.
                self.mqtt_sources.append(MqttSource(endpoint, tags, self.cache, self.board, clock=self.clock))
                continue
            monitor = self.condition_monitor(endpoint)
            self.conditions[endpoint.name] = monitor
            self.sources.append(
                OpcUaSource(endpoint, tags, self.cache, self.board, clock=self.clock, session_hooks=[monitor])
            )
        self.alarm_service.conditions = dict(self.conditions)
        self.control = WriteService(
            self.plant,
            self.cache,
            self.board,
            {source.name: source for source in self.sources},
            self.audit,
            self.signatures,
            self.clock,
            acting=lambda: self.active or self.leadership is None,
        )
        # Recipe downloads write through the one write service (CTL-019).
        self.recipes = RecipeService(
            self.plant, self.db, self.audit, self.signatures, self.cache, self.clock, writer=self.control
        )
        self.notifier = Notifier(self.alarms, self.db, self.audit, lambda: self.plant, self.clock)
        self.reloader = PlantReloader(self, self.plant_loader)
        if self.plant.mqtt is not None:
            self.mqtt = MqttPublisher(
                self.plant.mqtt,
                self.plant,
                self.cache,
                self.alarms,
                self.oee,
                self.local_dir("mqtt-outbox"),
                self.clock,
            )

    def condition_monitor(self, endpoint: Endpoint) -> ConditionMonitor:
        """The Alarms & Conditions monitor of an endpoint, feeding the alarm engine (not started)."""
        low1, low2, low3 = self.plant.alarm_policy.severity_priorities
        severity = SeverityMap(((low1, 1), (low2, 2), (low3, 3), (1, 4)))
        # Every endpoint's Alarms & Conditions join the one alarm list (servers without A&C simply send none).
        monitor = ConditionMonitor(
            endpoint.name,
            clock=self.clock,
            severity_map=severity,
            publishing_interval_ms=endpoint.publishing_interval_ms,
        )
        monitor.subscribe(self.alarms.apply_server)
        return monitor

    async def reload_plant(self, actor: ActionContext) -> ReloadResult:
        """Read the plant file again and apply it, or refuse it with the reasons (hmi/plant_reload.py)."""
        return await self.reloader.reload(actor)

    async def start(self) -> None:
        """Database first (fails loudly), then consumers, then the sources that feed them."""
        try:
            await self.open_records()
            if (anchor_path := self.anchor_path()) is not None:
                self.anchors = AnchorKeeper(self.audit, AnchorFile(anchor_path), on_problem=self.findings.append)
                await self.anchors.start()
            if self.config_path is not None:
                text = await asyncio.to_thread(self.config_path.read_text, encoding="utf-8")
                await record_config(self.db, self.audit, self.config_path, text, self.clock)
        except Exception as exc:
            self.start_error = str(exc)
            if self._db_lock is not None:
                self._db_lock.release()
                self._db_lock = None
            self._ready.set()
            raise
        await self.quarantine.load()
        await self.users.start()
        if trimming():
            self._trimmer = asyncio.create_task(
                every("memory trim", TRIM_S, lambda: asyncio.to_thread(trim_free_memory)), name="memory-trim"
            )
        self.live_trends.start()
        self.key_trends.start()
        active = True
        if self.db.dialect == "postgresql":
            # Several instances may share this database: one acts, the others stand by (docs/deployment.md).
            self.leadership = Leadership(self.db, self.instance, on_active=self._take_over, on_lost=self._lost)
            self.feed_out = FeedPublisher(self.db, self.cache, self.alarms)
            # Commands given on a standby go to the active instance; before the role is known, so none is refused.
            self.commands = CommandChannel(
                self.db,
                self.instance,
                self.audit,
                self.users,
                self.alarm_service,
                self.control,
                lambda: self.plant,
                acting=lambda: self.active,
            )
            self.alarm_service.forward = self.control.forward = self.commands.send
            await self.commands.start()
            self.notes_feed = NotesFeed(self.db, self.notes, self.instance)
            await self.notes_feed.start()
            active = await self.leadership.start()
        if active:
            await self._activate()
        else:
            log.warning("instance %s stands by: another instance is active on %s", self.instance, self.db.describe())
            self.feed_in = FeedReceiver(self.db, self.cache, self.clock, self.alarms)
            await self.feed_in.start()
        self.started = True
        self._ready.set()
        log.info("runtime started: %s; database %s", self.plant.summary(), self.db.describe())

    async def _activate(self) -> None:
        """Start what only the active instance runs: consumers first, then the sources that feed them."""
        self.active = self._acting = True
        # Before the sources, so the first values after start are recorded too.
        await self.recorder.start()
        self.alarms.start()
        self.journal.start()
        await self.notifier.start()
        self._ticker = asyncio.create_task(self._tick(), name="alarm-ticker")
        # Before the sources, so their first values are published too.
        if self.mqtt is not None:
            await self.mqtt.start()
        if self.feed_out is not None:
            await self.feed_out.start()
        for monitor in self.conditions.values():
            await monitor.start()
        for source in self.sources:
            await source.start()
        for feed in self.mqtt_sources:
            await feed.start()
        await self._start_plant_changes()
        self._winding_down = False
        self.watch_tasks()

    async def _take_over(self) -> None:
        """A standby becomes the active instance (the active one is gone): act, and say so in the audit trail."""
        self.took_over_at = self.clock()
        receiver, self.feed_in = self.feed_in, None
        if receiver is not None:
            await receiver.stop()
        # The values heard from the instance that is gone are not live: STALE until this one's sources read them.
        self.cache.mark_stale(self.cache.snapshot().keys(), self.took_over_at)
        try:
            await self._activate()
        finally:
            await self.audit.record(
                None,
                "cluster.takeover",
                "instance",
                self.instance,
                new_value="active",
                detail=f"instance {self.instance} took over as the active one; the one active before is gone",
            )

    def _lost(self, reason: str) -> None:
        """The active role's lock connection failed: this instance must stop acting before another takes over."""
        self.fatal = reason
        self.active = False
        if self.on_fatal is not None:
            self.on_fatal(reason)

    async def stop(self) -> None:
        """Reverse order: condition monitors (while their session is up), sources, consumers, database."""
        # No reload may start while things stop.
        tasks, self._plant_tasks = self._plant_tasks, []
        for task in reversed(tasks):
            await task.stop()
        receiver, self.feed_in = self.feed_in, None
        if receiver is not None:
            await receiver.stop()
        # No more commands taken for others; those under way finish while the services still run.
        commands, self.commands = self.commands, None
        if commands is not None:
            await commands.stop()
            self.alarm_service.forward = self.control.forward = None
        notes_feed, self.notes_feed = self.notes_feed, None
        if notes_feed is not None:
            await notes_feed.stop()
        if self._acting:
            await self._deactivate()
        if self.leadership is not None:
            # Releases the active role (closing its connection) once nothing acts here any more, so a standby
            # takes over at once but never while this instance still writes.
            await self.leadership.stop()
            self.leadership = None
        self.live_trends.stop()
        self.key_trends.stop()
        trimmer, self._trimmer = self._trimmer, None
        await stop_tasks(trimmer)
        # Writes the last aggregated sign-in refusals, so before the database closes and the last anchor.
        await self.users.stop()
        if self.anchors is not None:
            # The last anchor covers everything written up to the stop.
            await self.anchors.stop()
            self.anchors = None
        await self.db.stop()
        if self._db_lock is not None:
            self._db_lock.release()
            self._db_lock = None
        self._records_open = False
        self.started = False
        self._ready.clear()

    async def _deactivate(self) -> None:
        """Stop what only the active instance runs, in the reverse order of `_activate`."""
        # Tasks that end from here on are stopped, not dead.
        self._winding_down = True
        for monitor in self.conditions.values():
            await monitor.stop()
        # Owed pulse resets go out while the sources are still connected.
        await self.control.stop()
        for source in self.sources:
            await source.stop()
        for feed in self.mqtt_sources:
            await feed.stop()
        ticker, self._ticker = self._ticker, None
        await stop_tasks(ticker)
        # After the sources (their last values are queued), before the database (the OEE it publishes reads it).
        if self.mqtt is not None:
            await self.mqtt.stop()
        if self.feed_out is not None:
            await self.feed_out.stop()
        await self.notifier.stop()
        await self.journal.stop()
        # After the sources: the last values are written (or kept on disk) before the database closes.
        await self.recorder.stop()
        self.alarms.stop()
        self.active = self._acting = False

    def owned_tasks(self) -> dict[str, asyncio.Task[Any] | None]:
        """The long-lived tasks the active instance's parts run, by name; None when one is not running. Each must
        live until stop: the alarm ticker (on/off delays, shelving expiry), the journal writer, the historian's
        loops and each OPC UA source's connection loop."""
        tasks: dict[str, asyncio.Task[Any] | None] = {"alarm-ticker": self._ticker, "alarm-journal": self.journal.task}
        tasks.update({task.get_name(): task for task in self.recorder.tasks})
        tasks.update({f"opcua:{source.name}": source.task for source in self.sources})
        return tasks

    def watch_tasks(self) -> None:
        """Count each owned task that ends while the instance acts in `tasks_died` (after start, and after a plant
        change started new ones); tasks already watched are left as they are."""
        for name, task in self.owned_tasks().items():
            if task is not None and task not in self._watched:
                self._watched.add(task)
                task.add_done_callback(functools.partial(self._task_ended, name))

    def _task_ended(self, name: str, task: asyncio.Task[Any]) -> None:
        if self._winding_down or not self._acting or task.cancelled():
            return
        self.tasks_died += 1
        exc = task.exception()
        log.error("task %s ended while this instance runs: %s", name, repr(exc) if exc else "it returned")

    async def _start_plant_changes(self) -> None:
        """The ways a plant change reaches this process: `hmi reload` and, when asked for, the file watcher."""
        if self.reload_channel and self.data_dir is not None and self.config_path is not None:
            channel = ReloadChannel(self.data_dir, self.reloader, self.config_path)
            await channel.start()
            self._plant_tasks.append(channel)
        if self.watch_plant and self.config_path is not None:
            watcher = PlantWatcher(self.config_path, self.reloader)
            await watcher.start()
            self._plant_tasks.append(watcher)

    async def wait_ready(self, timeout: float = 30.0) -> bool:  # noqa: ASYNC109 - a bound, not a cancel scope
        """Wait until start() has finished (pages can be requested while the app is still starting)."""
        return await wait_event(self._ready, timeout) and self.started

    async def _tick(self, interval: float = 0.25) -> None:
        """On/off delays and shelving expiry run on the clock, not only on new values."""
        while True:
            await asyncio.sleep(interval)
            try:
                self.alarms.tick()
            except Exception:
                log.exception("alarm tick failed")

    async def open_records(self) -> None:
        """Lock the SQLite file, start the database, take up the audit key and record the guards' state.

        Called by start(); callers that write records before start (the demo's accounts) call it first, so those
        rows are keyed too. Idempotent.
        """
        if self._records_open:
            return
        if (path := self.db.database_path) is not None and self._db_lock is None:
            # Held while running, so `hmi audit restore` refuses to replace the database under this HMI.
            lock = DatabaseLock(path)
            await asyncio.to_thread(lock.acquire, exclusive=False)
            self._db_lock = lock
        await self.db.start()
        await self._use_audit_key()
        if (finding := await record_guard_report(self.audit, self.db)) is not None:
            log.error("%s", finding)
            self.findings.append(finding)
        self._records_open = True

    async def _use_audit_key(self) -> None:
        """Sign the audit trail with the key file, creating it on first start; refuse a trail keyed by a lost key."""
        path = resolve_key_file(self.audit_key_file, self.data_dir)
        if path is None:
            log.warning(
                "audit trail is not keyed: no data directory or %s; rows can be recomputed by anyone who "
                "can write the database",
                "HMI_AUDIT_KEY_FILE",
            )
            return
        if not await asyncio.to_thread(path.exists):
            async with self.db.session() as session:
                keyed = (
                    await session.execute(
                        sa.select(sa.func.count()).select_from(AuditEntry).where(col(AuditEntry.scheme) == SCHEME_HMAC)
                    )
                ).scalar_one()
            if keyed:
                # A new key would fork the trail and make every keyed row unverifiable: stop instead.
                raise AuditKeyError(
                    f"the audit trail has {keyed} keyed rows but the audit key file {path} is "
                    "missing; restore it from the key backup (or point HMI_AUDIT_KEY_FILE at it)"
                )
        key, created = await asyncio.to_thread(load_or_create_key, path)
        self.audit.use_key(key)
        if created:
            await self.audit.record(
                None,
                "audit.key.create",
                "audit",
                "key",
                new_value=self.audit.key_id,
                detail=f"new audit HMAC key in {path}; back it up apart from the database",
            )

    def anchor_path(self) -> Path | None:
        """The audit anchor file: `anchor_file`, else audit.anchor in the data directory, else None."""
        if self.anchor_file is not None:
            return self.anchor_file
        return self.data_dir / ANCHOR_FILE_NAME if self.data_dir is not None else None

    def spool_dir(self) -> Path:
        """The historian's store-and-forward folder: in the data directory, else beside the SQLite file."""
        return self.local_dir("historian-spool")

    def local_dir(self, name: str) -> Path:
        """A folder of this instance's local files (`name`): in the data directory, else beside the SQLite file,
        else (PostgreSQL or in-memory without a data directory) one per database under the temp dir."""
        if self.data_dir is not None:
            return self.data_dir / name
        database = self.db.database_path
        if database is not None:
            return database.parent / f"{database.stem}-{name}"
        key = hashlib.sha256(self.db.redacted_url.encode()).hexdigest()[:12]
        legacy = {"historian-spool": "spool"}.get(name, name)
        return Path(tempfile.gettempdir()) / f"factory-hmi-{legacy}-{key}"

    def shift(self) -> ShiftSlot:
        """The shift running now."""
        return current_shift(self.plant.site, self.clock())
