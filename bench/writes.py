"""Setpoint write benchmark: how long from the operator's confirm to "confirmed", through the whole path, against a
bare OPC UA write and read of the same node in the same run?

Runs `hmi simulate` (the demo plant) in its own process and, in this process, the HMI runtime on a SQLite file. Then,
alternating, N times each:
  write  the write service: permission, limits, interlock, compare-before-write, OPC UA Write, read-back until the
         server shows the value, the audit row committed (what an operator waits for after touching Confirm);
  raw    a bare asyncua client: Write of the same node, then Read until the value is there.
Last line: write_p95_ms=A raw_p95_ms=B overhead_ms=A-B (target: overhead p95 <= 150 ms on SQLite).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from asyncua import Client, ua
from processes import free_port, start_simulator

from hmi.access.roles import Role
from hmi.control.outcome import Result
from hmi.runtime import Runtime
from hmi.store.database import Database
from screens.cli import demo_plant

TAG = "Line1.SpeedSP"
NODE = "ns=2;s=Line1.SpeedSP"
PASSWORD = "writes-bench-pw"


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 20 else max(samples)


async def raw_write(client: Client, value: float) -> float:
    node = client.get_node(NODE)
    t0 = time.perf_counter()
    await node.write_value(ua.DataValue(ua.Variant(value, ua.VariantType.Double)))
    # Each Read is a round trip of its own: no sleep between them, as a client confirming a write would do.
    for _ in range(1000):
        if await node.read_value() == value:
            break
    return (time.perf_counter() - t0) * 1000


async def main_async(args: argparse.Namespace) -> None:
    port = free_port()
    sim = start_simulator(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
            rt = Runtime(demo_plant(port), db, data_dir=Path(tmp))
            await rt.start()
            try:
                await rt.users.create_user("olga", PASSWORD, Role.OPERATOR, "Olga Operator")
                ctx = (await rt.users.sign_in("olga", PASSWORD, station="bench")).ctx
                assert ctx is not None
                deadline = time.monotonic() + 30
                while (state := rt.cache.get(TAG)) is None or not state.good:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"{TAG} did not arrive from the simulator within 30 s")
                    await asyncio.sleep(0.1)
                values = [200.0 + 5 * (i % 20) for i in range(args.n)]
                service_ms: list[float] = []
                raw_ms: list[float] = []
                async with Client(f"opc.tcp://127.0.0.1:{port}", timeout=10) as client:
                    for i, value in enumerate(values):
                        shown = rt.cache.get(TAG)
                        t0 = time.perf_counter()
                        outcome = await rt.control.write(
                            ctx, TAG, value, expected=shown.value if shown else None, reason="bench"
                        )
                        service_ms.append((time.perf_counter() - t0) * 1000)
                        if outcome.result is not Result.CONFIRMED and outcome.why.find("no change") < 0:
                            print(f"write {i}: {outcome.message()}", file=sys.stderr)
                        raw_ms.append(await raw_write(client, 400.0 - value))
                        # Let the subscription bring the raw value back before the next compare-before-write.
                        deadline = time.monotonic() + 5
                        while (s := rt.cache.get(TAG)) is not None and s.value != 400.0 - value:
                            if time.monotonic() > deadline:
                                break
                            await asyncio.sleep(0.01)
            finally:
                await rt.stop()
    finally:
        sim.terminate()
        sim.wait(10)
    a, b = p95(service_ms), p95(raw_ms)
    print(
        f"writes={len(service_ms)} write_p50_ms={statistics.median(service_ms):.1f} "
        f"raw_p50_ms={statistics.median(raw_ms):.1f}"
    )
    print(f"write_p95_ms={a:.1f} raw_p95_ms={b:.1f} overhead_ms={a - b:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=200, help="writes of each kind (default 200)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
