"""`hmi run` and `hmi demo` refuse bad input with a clear message and an exit code, before serving anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmi.cli import main


@pytest.mark.req("OPS-001")
def test_run_with_a_bad_config_exits_2_naming_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "plant.yaml"
    bad.write_text("site: {name: X}\nendpoints: []\nareas: []\n", encoding="utf-8")
    assert main(["run", "--config", str(bad), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "endpoints" in err
    assert f"run `hmi check {bad}`" in err
    assert "Traceback" not in err


@pytest.mark.req("OPS-001")
def test_run_with_a_missing_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(tmp_path / "nope.yaml"), "--data-dir", str(tmp_path)]) == 2
    assert "file not found" in capsys.readouterr().err


@pytest.mark.req("OPS-001")
def test_run_with_an_unreachable_database_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plant = Path(__file__).resolve().parents[2] / "assets" / "demo-plant.yaml"
    code = main(
        ["run", "--config", str(plant), "--data-dir", str(tmp_path), "--db", "postgresql://postgres@127.0.0.1:1/hmi"]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "PostgreSQL at 127.0.0.1:1/hmi is not reachable" in err
    assert "Traceback" not in err


@pytest.mark.req("OPS-001")
def test_demo_with_an_unsupported_database_url_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--data-dir", str(tmp_path), "--db", "mysql://root@localhost/x"]) == 1
    assert "not supported" in capsys.readouterr().err
