"""`hmi reload` against a running `hmi demo` process: the edited demo plant file is refused while invalid and
applied when valid; the new tag then gets values in the running process (its historian records them)."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hmi.cli import main
from tests.opcua_server import free_port
from tests.waiting import answering, ended, until_sync

NEW_TAG = (
    '          - {name: Line1.FillerTemp, endpoint: plant, node_id: "ns=2;s=Line1.Filler.Temperature", '
    "unit: °C, description: Filler temperature on the line panel}\n"
)


@dataclass
class Demo:
    data_dir: Path
    plant_file: Path
    process: subprocess.Popen[str]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("reload-demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("HMI_DB_URL", None)
    log = data_dir / "demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "hmi", "demo", "--port", str(port), "--data-dir", str(data_dir)),
                "--history-hours",
                "0",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        try:
            answering(f"http://127.0.0.1:{port}/login", proc, log, 90)
            # The reload channel is up once the runtime has started (after the first page answers).
            until_sync(lambda: (data_dir / "hmi.pid").exists(), 60, "the pid file")
            yield Demo(data_dir, data_dir / "demo-plant.yaml", proc)
        finally:
            ended(proc, 15)


def samples(db: Path, tag: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return int(conn.execute("SELECT count(*) FROM samples WHERE tag = ?", (tag,)).fetchone()[0])


@pytest.mark.req("RLD-001", "RLD-005", "RLD-007")
def test_hmi_reload_refuses_an_invalid_file_then_adds_a_tag_to_the_running_demo(
    demo: Demo, capsys: pytest.CaptureFixture[str]
) -> None:
    original = demo.plant_file.read_text(encoding="utf-8")
    assert "Line1.FillerTemp" not in original
    head, tail = original.split("        tags:\n", 1)
    capsys.readouterr()

    demo.plant_file.write_text(
        head + "        tags:\n" + NEW_TAG.replace("plant,", "nowhere,") + tail, encoding="utf-8"
    )
    assert main(["reload", "--data-dir", str(demo.data_dir)]) == 2
    err = capsys.readouterr().err
    assert "plant reload refused" in err
    assert "unknown endpoint 'nowhere'" in err

    demo.plant_file.write_text(head + "        tags:\n" + NEW_TAG + tail, encoding="utf-8")
    assert main(["reload", "--data-dir", str(demo.data_dir)]) == 0
    out = capsys.readouterr().out
    assert "plant file reloaded: 1 change(s) applied" in out
    assert re.search(r"^\s+tag Line1.FillerTemp added$", out, re.MULTILINE), out

    # The running process subscribed the new tag: its values reach the historian.
    db = demo.data_dir / "hmi.db"
    until_sync(lambda: samples(db, "Line1.FillerTemp") > 0, 30, "samples of the new tag", interval=0.5)
    assert demo.process.poll() is None


@pytest.mark.req("RLD-007")
def test_hmi_reload_without_a_running_hmi_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reload", "--data-dir", str(tmp_path)]) == 1
    assert "no running HMI found" in capsys.readouterr().err
    (tmp_path / "hmi.pid").write_text('{"pid": 999999999, "sighup": true}', encoding="utf-8")
    assert main(["reload", "--data-dir", str(tmp_path)]) == 1
    assert "is not running" in capsys.readouterr().err
