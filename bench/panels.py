"""Panel benchmark: what a panel sees, measured from the source's time to the browser's DOM.

Runs, each in its own process: `hmi simulate` with 5,000 load tags changing 5,000 times a second in total (each about
once a second) plus K latency probes (Int64 tags whose value is the millisecond the simulator wrote it, each changing
once a second), and `hmi run` on a SQLite file with a generated plant: K lines L01.., each showing its probe as the
good counter on the overview tile and as a value on the line page, beside 20 load tags; the other load tags on one
line of their own that no page opens (the runtime still subscribes to, caches, and evaluates all 5,000).
One headless Chromium (Playwright, the system's chromium) signs in and opens the pages: the first on the overview, the
others on line pages, in turn. In each page a MutationObserver notes when a probe's text changes; the latency is that
moment (Date.now()) minus the probe's value: both clocks are this machine's.

For each count in --pages (default 10; e.g. 1,10,30 measures each in turn, adding pages), after a warm-up:
  p50/p95/p99 of the latency over every probe change every open page saw in the window;
  the hmi process's resident memory and CPU (share of one core) with that many pages open, and per open page against
  the same process before any page was open.
Target (issue: scale): p95 <= publishing interval + 150 ms. Last line (for the last count in --pages):
  panels=N tags=5000 p50_ms=A p95_ms=B p99_ms=C publish_ms=P
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, sync_playwright
from processes import CHROMIUM, CHROMIUM_ARGS, add_user, free_port, wait_line

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hmi.config import Endpoint  # noqa: E402

PASSWORD = "panels-bench-pw"
LINE_TAGS = 20  # load tags on each probe line's page, beside its probe
# Pages in the background must not be throttled: every page is a panel someone looks at.
BROWSER_ARGS = [
    *CHROMIUM_ARGS,
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
]
# Probe values on the page: the value of a line page's probe tile, and the good counter of an overview tile.
PROBES = '[data-tag^="Probe."] .hmi-value-sm, [data-tag^="Probe."] .hmi-value, [data-testid^="good_count-"]'
# Records, for every probe element whose text changed, now minus the millisecond in the text. Observes the whole body,
# so an element Vue replaces is still seen; the first text of each element is its baseline, not a change. Called
# again on a page, it only starts a new count.
OBSERVE = """(selector) => {
  window.__latencies = [];
  if (window.__observed) return document.querySelectorAll(selector).length;
  window.__observed = true;
  const seen = new WeakMap();
  const look = () => {
    const now = Date.now();
    for (const el of document.querySelectorAll(selector)) {
      const text = el.textContent;
      if (!seen.has(el)) { seen.set(el, text); continue; }
      if (seen.get(el) === text) continue;
      seen.set(el, text);
      const value = Number(text.replace(/[^0-9]/g, ''));
      if (value > 1e12) window.__latencies.push(now - value);
    }
  };
  look();
  new MutationObserver(look).observe(document.body, {childList: true, characterData: true, subtree: true});
  return document.querySelectorAll(selector).length;
}"""


def plant_yaml(url: str, tags: int, lines: int, publish_ms: int) -> str:
    """K probe lines of a probe and 20 load tags each; the other load tags on a line of their own."""
    width = max(5, len(str(tags)))
    load = [f"Load.Tag{i:0{width}d}" for i in range(1, tags + 1)]

    def tag(name: str, data_type: str = "float") -> str:
        return f"          - {{name: {name}, endpoint: sim, node_id: 'ns=2;s={name}', data_type: {data_type}}}"

    out = [
        "site: {name: Panel bench, timezone: UTC}",
        f"endpoints: [{{name: sim, url: '{url}', publishing_interval_ms: {publish_ms}}}]",
        "areas:",
        "  - name: Bench",
        "    lines:",
    ]
    width_p = max(2, len(str(lines)))
    for k in range(lines):
        probe = f"Probe.P{k + 1:0{width_p}d}"
        out += [f"      - name: L{k + 1:02d}", f"        good_count_tag: {probe}", "        tags:", tag(probe, "int")]
        out += [tag(n) for n in load[k * LINE_TAGS : (k + 1) * LINE_TAGS]]
    rest = load[lines * LINE_TAGS :]
    if rest:
        out += ["  - name: Load", "    lines:", "      - name: Load", "        tags:", *(tag(n) for n in rest)]
    return "\n".join(out) + "\n"


class Process:
    """Resident memory and CPU time of a process by id (Linux /proc)."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.TICK  # utime, stime


def window(hmi: Process, seconds: float) -> tuple[float, float]:
    """Let `seconds` pass: the hmi process's share of one core in them, and its resident memory at the end."""
    start, cpu = time.monotonic(), hmi.cpu_s()
    time.sleep(seconds)
    return (hmi.cpu_s() - cpu) / (time.monotonic() - start), hmi.rss_mib()


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank on the sorted values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def open_page(browser_context: Any, url: str, page: Page | None = None) -> Page:
    """`url` in a new page of the signed-in browser (or in `page`), once a probe value is on it."""
    if page is None:
        page = browser_context.new_page()
        page.set_default_timeout(60_000)
    page.goto(url)
    try:
        page.locator(PROBES).first.wait_for(state="attached")
    except Exception:
        raise SystemExit(f"no probe value on {url} (at {page.url}): {page.inner_text('body')[:600]!r}") from None
    return page


def sign_in(browser: Browser, base: str) -> tuple[Any, Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{base}/login")
    page.get_by_test_id("username").fill("bench")
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("sign-in").click()
    page.get_by_test_id("clock").wait_for()
    # The signed-in page stays open and becomes the first panel: the session is kept as a real panel keeps it.
    return context, page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", default="10", help="page counts to measure in turn, e.g. 1,10,30 (default 10)")
    parser.add_argument("--tags", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=5000.0, help="total load changes per second (default 5000)")
    parser.add_argument("--probes", type=int, default=10, help="probe lines L01.. (default 10)")
    parser.add_argument(
        "--publish-ms",
        type=int,
        default=Endpoint.model_fields["publishing_interval_ms"].default,
        help="the plant's OPC UA publishing interval (default: the runtime's default)",
    )
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds after opening pages before counting")
    parser.add_argument("--window", type=float, default=30.0, help="seconds counted per page count")
    args = parser.parse_args()
    counts = sorted({int(n) for n in args.pages.split(",")})
    work = Path(tempfile.mkdtemp(prefix="hmi-panels-"))
    sim_port, web_port = free_port(), free_port()
    sim_url = f"opc.tcp://127.0.0.1:{sim_port}"
    (work / "plant.yaml").write_text(plant_yaml(sim_url, args.tags, args.probes, args.publish_ms), encoding="utf-8")
    db = f"sqlite:///{work / 'hmi.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_", "HMI_"))}
    hmi = [sys.executable, "-m", "hmi"]
    procs: list[subprocess.Popen[str]] = []
    try:
        sim = subprocess.Popen(
            [
                *hmi,
                "simulate",
                "--port",
                str(sim_port),
                "--seed",
                "1",
                "--tags",
                str(args.tags),
                "--rate",
                str(args.rate),
                "--probes",
                str(args.probes),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )
        procs.append(sim)
        wait_line(sim, "listening on", 120)
        add_user(hmi, "bench", "operator", PASSWORD, db, env)
        web = subprocess.Popen(
            [
                *hmi,
                "run",
                "--config",
                str(work / "plant.yaml"),
                "--port",
                str(web_port),
                "--db",
                db,
                "--data-dir",
                str(work),
            ],
            stdout=subprocess.DEVNULL,  # nothing to read, and a full pipe would stall the server
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=REPO,
            env=env,
        )
        procs.append(web)
        base = f"http://127.0.0.1:{web_port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        server = Process(web.pid)
        time.sleep(args.warmup)  # every tag subscribed and changing before the baseline
        base_cpu, base_rss = window(server, min(args.window, 15.0))
        print(
            f"hmi run, no page open: {base_cpu:.0%} of a core, {base_rss:.0f} MiB "
            f"({args.tags:,} tags, {args.rate:,.0f} changes/s, {args.probes} probes, publishing {args.publish_ms} ms)",
            flush=True,
        )
        last = ""
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
            context, first = sign_in(browser, base)
            pages: list[Page] = []
            for n in counts:
                while len(pages) < n:
                    k = len(pages)
                    url = f"{base}/" if k == 0 else f"{base}/line/L{(k - 1) % args.probes + 1:02d}"
                    pages.append(open_page(context, url, first if k == 0 else None))
                time.sleep(args.warmup)
                watched = sum(int(p.evaluate(OBSERVE, PROBES)) for p in pages)
                cpu, rss = window(server, args.window)
                # A page that reloaded meanwhile (NiceGUI does when its socket reconnects too late) lost its observer.
                counted = [p.evaluate("window.__latencies") for p in pages]
                latencies = [float(x) for seen in counted if seen is not None for x in seen]
                if reloaded := sum(seen is None for seen in counted):
                    print(f"{reloaded} page(s) reloaded during the window: not counted", flush=True)
                p50, p95, p99 = (percentile(latencies, q) for q in (50, 95, 99))
                mean, worst = statistics.fmean(latencies or [0]), max(latencies or [0])
                print(
                    f"{n} page(s), {watched} probe values watched, {len(latencies)} changes seen: "
                    f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms (mean {mean:.0f}, max {worst:.0f}); "
                    f"hmi run: {cpu:.0%} of a core, {rss:.0f} MiB; per open page: "
                    f"{(cpu - base_cpu) / n:+.1%} of a core, {(rss - base_rss) / n:+.1f} MiB",
                    flush=True,
                )
                last = (
                    f"panels={n} tags={args.tags} p50_ms={p50:.0f} p95_ms={p95:.0f} p99_ms={p99:.0f} "
                    f"publish_ms={args.publish_ms}"
                )
            browser.close()
        target = "within" if float(last.split("p95_ms=")[1].split()[0]) <= args.publish_ms + 150 else "OVER"
        print(f"target p95 <= {args.publish_ms + 150} ms (publishing interval + 150): {target}")
        print(last)
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
