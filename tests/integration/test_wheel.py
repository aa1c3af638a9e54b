"""Installed from a built wheel (or editable), `hmi demo` and `hmi run` serve their pages from any directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.opcua_server import free_port
from tests.plant_fixture import PLANT_YAML
from tests.waiting import answering, ended

pytestmark = pytest.mark.wheel

REPO = Path(__file__).resolve().parents[2]
# Build outputs and caches of a working copy: copying them could smuggle stale modules into the wheel.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", "hmi-data", ".pytest_cache",
    ".ruff_cache", ".mypy_cache", ".hypothesis", ".nicegui", "test-results", "screenshots",
)  # fmt: skip
# One distinctive rule of assets/hmi.css: the pages carry the shared style sheet inline.
CSS_RULE = ".hmi-header {"
# A generous bound for a loaded CI machine, only so that a hung server fails the test instead of hanging it.
GIVE_UP_AFTER_S = 120.0


@dataclass
class Installed:
    """A fresh venv holding factory-hmi (from the wheel or editable); `elsewhere` is a directory outside the repo."""

    venv: Path
    elsewhere: Path

    @property
    def hmi(self) -> Path:
        return self.venv / "bin" / "hmi"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A copy, so the build neither writes build/ into the working copy nor reuses a stale one from it.
    copy = tmp_path_factory.mktemp("source") / "factory-hmi"
    shutil.copytree(REPO, copy, ignore=NOT_SOURCES)
    return copy


@pytest.fixture(scope="module")
def wheel(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _pip("wheel", "--no-deps", "-w", str(dist), str(source))
    (built,) = dist.glob("factory_hmi-*.whl")
    return built


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True)


def _fresh_venv(root: Path, requirement: list[str]) -> Installed:
    """A venv with only factory-hmi installed in it; the dependencies are this environment's."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    _pip("--python", str(venv / "bin" / "python"), "install", "--no-deps", *requirement)
    # A .pth line that is a directory only adds it to sys.path; the .pth files inside it do not run, so the
    # editable install of this checkout (a .pth hook in this environment) stays out of the fresh venv.
    (venv_site,) = (venv / "lib").glob("python3*/site-packages")
    # Every site-packages on this sys.path: also those that a .pth of this environment added (nested venvs).
    deps = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]
    (venv_site / "project-dependencies.pth").write_text("\n".join(deps) + "\n", encoding="utf-8")
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    return Installed(venv, elsewhere)


@pytest.fixture(scope="module")
def from_wheel(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return _fresh_venv(tmp_path_factory.mktemp("from-wheel"), [str(wheel)])


@pytest.fixture(scope="module")
def editable(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return _fresh_venv(tmp_path_factory.mktemp("editable"), ["-e", str(source)])


def _env() -> dict[str, str]:
    # A production process: NiceGUI must not think it runs inside pytest, and nothing points back at the repo.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_", "HMI_"))}
    env.pop("PYTHONPATH", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def serving(installed: Installed, *args: str) -> Iterator[str]:
    """Start `hmi ARGS --port P` in the directory outside the repo; yield its URL once /login answers."""
    port = free_port()
    log_path = installed.elsewhere / f"hmi-{port}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([str(installed.hmi), *args, "--port", str(port)], cwd=installed.elsewhere,
                                stdout=log, stderr=subprocess.STDOUT, env=_env())  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            answering(f"{url}/login", proc, log_path, GIVE_UP_AFTER_S)
            yield url
        finally:
            ended(proc, 20)


def _python_finds(installed: Installed, module: str) -> Path:
    out = subprocess.run([str(installed.venv / "bin" / "python"), "-c", f"import {module}; print({module}.__file__)"],
                         cwd=installed.elsewhere, env=_env(), capture_output=True, text=True, check=True)  # fmt: skip
    return Path(out.stdout.strip())


@pytest.mark.req("OPS-004")
def test_the_wheel_holds_every_module_and_every_asset(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(REPO).as_posix() for top in ("hmi", "screens") for p in (REPO / top).rglob("*.py")}
    assert modules - names == set()
    shipped = REPO / "assets"
    # Sub-folders too (the demo's display drawings in assets/displays/).
    assets = {
        f"hmi/assets/{p.relative_to(shipped).as_posix()}"
        for p in shipped.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert assets - names == set()
    assert {"hmi/assets/demo-plant.yaml", "hmi/assets/hmi.css", "hmi/assets/displays/filler-bowl.svg"} <= names
    assert "hmi/py.typed" in names


@pytest.mark.req("OPS-004")
def test_the_wheel_venv_imports_the_installed_package_not_the_source_tree(from_wheel: Installed) -> None:
    for module in ("hmi", "hmi.assets", "screens"):
        assert _python_finds(from_wheel, module).is_relative_to(from_wheel.venv), module


@pytest.mark.req("OPS-004")
def test_hmi_demo_from_the_wheel_serves_the_login_page_and_the_style_sheet_from_another_directory(
    from_wheel: Installed,
) -> None:
    data = from_wheel.elsewhere / "demo-data"
    with serving(from_wheel, "demo", "--data-dir", str(data), "--history-hours", "0") as url:
        page = httpx.get(f"{url}/login", timeout=10)
    assert page.status_code == 200
    assert CSS_RULE in page.text
    assert (data / "hmi.db").is_file()


@pytest.mark.req("OPS-004")
def test_hmi_run_from_the_wheel_serves_a_plant_file_kept_outside_the_repo(from_wheel: Installed) -> None:
    plant = from_wheel.elsewhere / "plant.yaml"
    # Nothing listens on this endpoint: the HMI serves its pages while the source keeps trying to connect.
    plant.write_text(PLANT_YAML.format(url=f"opc.tcp://127.0.0.1:{free_port()}"), encoding="utf-8")
    with serving(from_wheel, "run", "--config", "plant.yaml", "--data-dir", "run-data") as url:
        page = httpx.get(f"{url}/login", timeout=10)
    assert page.status_code == 200
    assert CSS_RULE in page.text
    assert (from_wheel.elsewhere / "run-data" / "hmi.db").is_file()


@pytest.mark.req("OPS-004")
def test_hmi_demo_from_an_editable_install_reads_the_assets_of_the_checkout(editable: Installed, source: Path) -> None:
    # The README installs with `pip install -e .`: assets/ is then mapped onto hmi.assets, in place.
    assert _python_finds(editable, "hmi.assets") == source / "assets" / "__init__.py"
    with serving(editable, "demo", "--data-dir", "demo-data", "--history-hours", "0") as url:
        page = httpx.get(f"{url}/login", timeout=10)
    assert page.status_code == 200
    assert CSS_RULE in page.text
