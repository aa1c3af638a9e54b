"""Scale benchmark: one HMI instance with 50,000 tags on PostgreSQL.

Runs `hmi simulate --tags 50000 --rate 5000` in its own process and a scratch PostgreSQL database (created, then
dropped). First a bare asyncua client counts what the simulator delivers (for reference: on two cores the simulator
itself does not always reach its rate); then the HMI runtime (what
`hmi run` starts, without the web server: OPC UA source, tag cache, alarm engine with an H alarm on every tag,
historian on PostgreSQL, journal) subscribes the same tags and runs a steady window. Measured:
  startup_s        from starting the runtime until every tag has its first value (50,000 monitored items);
  changes_per_s    value changes reaching the tag cache in the window;
  ingest_ratio     that against the rate the simulator was asked for (--rate);
  cpu_core_pct     this process's CPU in the window, in percent of one core;
  rss_mib          this process's resident memory at the end of the window;
  historian_lag_s  the age of the oldest sample not yet written at the end (0 when none waits; a spool on disk is
                   reported as a failure, since then something is buffered and not written).
Targets (issue: scale): ingest_ratio >= 0.95, cpu under one core, rss under 1 GiB, lag under 5 s, startup under 60 s.
Last line:
  tags=N changes_per_s=X ingest_ratio=R cpu_core_pct=C rss_mib=M historian_lag_s=L startup_s=S
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from ingest import load_plant, raw_window
from processes import free_port, load_options, run, start_simulator, timed_window

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hmi.runtime import Runtime  # noqa: E402
from hmi.store.database import Database  # noqa: E402
from hmi.tags import Quality, TagState  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = "hmi_bench_scale"


class LoopWatch:
    """How long the event loop went without running a task: a heartbeat every 50 ms, and a thread that notes where
    the loop's thread was (its innermost frames, and those in hmi/) whenever the heartbeat is half a second late."""

    def __init__(self) -> None:
        self.beat = time.monotonic()
        self.longest = 0.0
        self.where: Counter[str] = Counter()
        self._loop_thread = threading.get_ident()
        self._stop = threading.Event()

    async def heartbeat(self) -> None:
        while True:
            now = time.monotonic()
            self.longest = max(self.longest, now - self.beat)
            self.beat = now
            await asyncio.sleep(0.05)

    def watch(self) -> None:
        while not self._stop.wait(0.25):
            if time.monotonic() - self.beat > 0.5:
                frame = sys._current_frames().get(self._loop_thread)
                stack = traceback.extract_stack(frame) if frame else []
                ours = [f for f in stack if "/hmi/" in f.filename][-2:]
                inner = [f for f in stack if "asyncio" not in f.filename][-2:]
                self.where[" < ".join(f"{Path(f.filename).stem}.{f.name}" for f in reversed(inner + ours))] += 1

    def stop(self) -> None:
        self._stop.set()


def rss_mib() -> float:
    """This process's resident set size (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def hmi_run(url: str, db_url: str, tags: int, warmup: float, window: float) -> dict[str, float]:
    plant = load_plant(url, tags)
    count = 0
    counting = False

    window_start = datetime.now(UTC)

    def counter(states: Sequence[TagState]) -> None:
        nonlocal count
        if counting:
            # Only fresh changes: a reconnect delivers every tag's last value again, which is no new change.
            count += sum(
                1
                for s in states
                if s.quality is not Quality.STALE and s.source_time is not None and s.source_time >= window_start
            )

    with tempfile.TemporaryDirectory() as data_dir:
        rt = Runtime(plant, Database(db_url), data_dir=Path(data_dir))
        watch = LoopWatch()
        beating = asyncio.create_task(watch.heartbeat())
        watcher = threading.Thread(target=watch.watch, daemon=True)
        watcher.start()
        started = time.perf_counter()
        await rt.start()
        try:
            deadline = time.monotonic() + 300
            while len(rt.cache) < tags and time.monotonic() < deadline:  # noqa: ASYNC110 - polling, bounded
                await asyncio.sleep(0.2)
            startup_s = time.perf_counter() - started
            print(f"HMI: {len(rt.cache):,} of {tags:,} tags have values after {startup_s:.1f} s", flush=True)
            rt.cache.subscribe(None, counter)
            await asyncio.sleep(warmup)
            window_start = datetime.now(UTC)
            connects = sum(s.connects for s in rt.sources)
            counting = True
            elapsed, cpu_share = await timed_window(window)
            counting = False
            status = rt.recorder.status
            now = datetime.now(UTC)
            lag = (now - status.oldest_waiting).total_seconds() if status.oldest_waiting is not None else 0.0
            print(
                f"HMI: {count / elapsed:,.0f} changes/s, {cpu_share:.0%} of a core, historian: {status.queued:,} "
                f"queued, {status.spooled_batches} spooled batches, {status.written:,} written, oldest waiting "
                f"{lag:.1f} s, {len(rt.alarms.active())} alarms active",
                flush=True,
            )
            reconnects = sum(s.connects for s in rt.sources) - connects
            print(f"HMI: event loop blocked at most {watch.longest:.2f} s; reconnects in the window: {reconnects}")
            for where, n in watch.where.most_common(5):
                print(f"  blocked {n * 0.25:.1f} s in {where}")
            if status.spooled_batches or status.buffering_since is not None:
                lag = float("inf")  # buffered on disk: the database did not keep up
            return {
                "changes_per_s": count / elapsed,
                "cpu": cpu_share,
                "rss": rss_mib(),
                "lag": lag,
                "startup": startup_s,
            }
        finally:
            watch.stop()
            beating.cancel()
            await rt.stop()


async def main_async(args: argparse.Namespace) -> None:
    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}"
    names = [f"Load.Tag{i:05d}" for i in range(1, args.tags + 1)]
    t0 = time.monotonic()
    proc = start_simulator(port, "--tags", str(args.tags), "--rate", str(args.rate))
    print(f"simulator: {args.tags:,} tags, {args.rate:,.0f} changes/s, started in {time.monotonic() - t0:.1f} s")
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{PG_DB}"')
        raw, raw_cpu = await raw_window(url, names, args.warmup, min(args.window, 15.0))
        print(f"bare asyncua client: {raw:,.0f} changes/s, {raw_cpu:.0%} of a core", flush=True)
        figures = await hmi_run(url, PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DB}", args.tags, args.warmup, args.window)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        await admin.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        await admin.close()
    print(
        f"tags={args.tags} changes_per_s={figures['changes_per_s']:.0f} "
        f"ingest_ratio={figures['changes_per_s'] / args.rate:.3f} cpu_core_pct={figures['cpu'] * 100:.0f} "
        f"rss_mib={figures['rss']:.0f} historian_lag_s={figures['lag']:.1f} startup_s={figures['startup']:.1f}"
    )


def main() -> None:
    run(main_async, load_options(__doc__, tags=50_000, rate=5_000.0, window=60.0, warmup=10.0).parse_args())


if __name__ == "__main__":
    main()
