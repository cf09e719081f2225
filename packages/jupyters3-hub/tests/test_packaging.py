"""jupyters3-hub builds a wheel and an sdist with complete metadata and installs beside
jupyters3-core and JupyterHub."""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import jupyters3_hub
import pytest

from jupyters3_testing.distributions import build, changelog_version, read_sdist, read_wheel

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: hatchling depends on tomli there
    import tomli as tomllib

PACKAGES = Path(__file__).resolve().parents[2]
PACKAGE = PACKAGES / "jupyters3-hub"
REPO = PACKAGES.parent
PYPROJECT = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
GITHUB = "https://github.com/jupyters3/jupyters3"


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """Wheels and sdists of this package and of jupyters3-core."""
    out = tmp_path_factory.mktemp("dist")
    build(PACKAGE, out)
    build(PACKAGES / "jupyters3-core", out)
    return out


def test_metadata(dist):
    """Depends on jupyters3-core (the tested range) and JupyterHub; typed; the service's
    console script; license, URLs, readme."""
    built = read_wheel(next(dist.glob("jupyters3_hub-*.whl")))
    names, metadata = built.names, built.metadata
    assert metadata["Name"] == "jupyters3-hub"
    assert metadata["Version"] == jupyters3_hub.__version__
    assert sorted(metadata.get_all("Requires-Dist")) == [
        "jupyterhub>=4",
        "jupyters3-core<0.2,>=0.1.0.dev0",
    ]
    assert "jupyters3_hub/py.typed" in names
    assert not any(n.startswith("tests/") for n in names)
    scripts = built.read(".dist-info/entry_points.txt").decode()
    assert "jupyters3-hub-service = jupyters3_hub.service:main" in scripts
    assert metadata["Metadata-Version"] == "2.4"
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert built.read(".dist-info/licenses/LICENSE").decode() == (REPO / "LICENSE").read_text()
    assert metadata["Requires-Python"] == ">=3.10"
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert urls["Source"] == f"{GITHUB}/tree/main/packages/jupyters3-hub"
    assert urls["Changelog"] == f"{GITHUB}/blob/main/packages/jupyters3-hub/CHANGELOG.md"
    assert metadata["Summary"] == PYPROJECT["description"]
    assert metadata.get_payload().startswith("# jupyters3-hub")


def test_sdist_carries_sources_tests_license_changelog_and_readme(dist):
    files, pkg_info = read_sdist(next(dist.glob("jupyters3_hub-*.tar.gz")))
    assert {"pyproject.toml", "src/jupyters3_hub/service.py"} <= set(files)
    assert any(n.startswith("tests/") for n in files)
    for name in ("LICENSE", "CHANGELOG.md", "README.md"):
        assert files[name] == (PACKAGE / name).read_bytes(), name
    assert pkg_info["Version"] == jupyters3_hub.__version__


def test_changelog_names_the_current_version():
    text = (PACKAGE / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog")
    assert changelog_version(text) == jupyters3_hub.__version__


@pytest.mark.timeout(900)
def test_installs_with_core_and_jupyterhub(dist, tmp_path):
    """From its wheel next to core's (JupyterHub from the index): the service imports."""
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    clean = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    clean.update(PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    wheels = [str(next(dist.glob(f"{name}-*.whl"))) for name in ("jupyters3_hub", "jupyters3_core")]
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *wheels],
        check=True,
        timeout=600,
        env=clean,
    )
    probe = "import jupyters3_hub, jupyters3_hub.service; print(jupyters3_hub.__version__)"
    out = subprocess.run(
        [str(python), "-c", probe],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean,
        cwd=env,
    )
    assert out.stdout.strip() == jupyters3_hub.__version__
    subprocess.run(
        [str(python), "-m", "pip", "check"], check=True, capture_output=True, timeout=120, env=clean
    )
