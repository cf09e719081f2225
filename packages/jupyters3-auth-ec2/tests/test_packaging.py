"""jupyters3-auth-ec2 builds a wheel and an sdist with complete metadata and installs
beside jupyters3-core."""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

import jupyters3_auth_ec2
from jupyters3_testing.distributions import build, changelog_version, read_sdist, read_wheel

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: hatchling depends on tomli there
    import tomli as tomllib

PACKAGES = Path(__file__).resolve().parents[2]
PACKAGE = PACKAGES / "jupyters3-auth-ec2"
REPO = PACKAGES.parent
PYPROJECT = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
GITHUB = "https://github.com/jupyters3/jupyters3"
PYTHONS = ("3.10", "3.11", "3.12", "3.13")


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """Wheels and sdists of this package and of jupyters3-core (its one dependency)."""
    out = tmp_path_factory.mktemp("dist")
    build(PACKAGE, out)
    build(PACKAGES / "jupyters3-core", out)
    return out


def test_metadata_depends_only_on_core(dist):
    """The runtime dependency is jupyters3-core alone, in the range this release is
    tested with (traitlets and the HTTP client come through it; the range is checked
    against core's version in core's test_packaging.py); the wheel is typed and
    registers the chain's EC2 provider."""
    built = read_wheel(next(dist.glob("jupyters3_auth_ec2-*.whl")))
    names, metadata = built.names, built.metadata
    entry_points = built.read(".dist-info/entry_points.txt").decode()

    assert metadata["Name"] == "jupyters3-auth-ec2"
    assert metadata["Version"] == jupyters3_auth_ec2.__version__
    assert metadata.get_all("Requires-Dist") == ["jupyters3-core<0.2,>=0.1.0.dev0"]
    assert metadata.get_all("Provides-Extra") is None
    assert "jupyters3_auth_ec2/py.typed" in names
    assert not any(n.startswith("tests/") for n in names)
    assert "[jupyters3.credential_providers]\nec2 = jupyters3_auth_ec2:chain_provider" in (
        entry_points
    )


def test_wheel_metadata_is_complete(dist):
    """License (expression and text), Python versions, classifiers, URLs, summary, readme."""
    built = read_wheel(next(dist.glob("jupyters3_auth_ec2-*.whl")))
    metadata = built.metadata
    license_text = built.read(".dist-info/licenses/LICENSE").decode()

    assert metadata["Metadata-Version"] == "2.4"
    assert license_text == (PACKAGE / "LICENSE").read_text() == (REPO / "LICENSE").read_text()
    assert license_text.startswith("BSD 3-Clause License")
    assert "Copyright (c) 2026, jupyters3 developers" in license_text
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata["License"] is None
    assert metadata["Requires-Python"] == ">=3.10"

    classifiers = metadata.get_all("Classifier")
    for version in PYTHONS:
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert "Framework :: Jupyter" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # PEP 639: expression only

    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues", "Changelog"}
    assert urls["Homepage"] == GITHUB
    assert urls["Documentation"] == f"{GITHUB}/tree/main/packages/jupyters3-auth-ec2#readme"
    assert urls["Source"] == f"{GITHUB}/tree/main/packages/jupyters3-auth-ec2"
    assert urls["Issues"] == f"{GITHUB}/issues"
    assert urls["Changelog"] == f"{GITHUB}/blob/main/packages/jupyters3-auth-ec2/CHANGELOG.md"

    assert metadata["Summary"] == PYPROJECT["description"]
    assert "EC2" in metadata["Summary"]
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().startswith("# jupyters3-auth-ec2")
    assert "ec2" in metadata["Keywords"].split(",")


def test_sdist_carries_sources_tests_license_changelog_and_readme(dist):
    files, pkg_info = read_sdist(next(dist.glob("jupyters3_auth_ec2-*.tar.gz")))

    assert {"pyproject.toml", "src/jupyters3_auth_ec2/__init__.py"} <= set(files)
    assert any(n.startswith("tests/") for n in files)
    for name in ("LICENSE", "CHANGELOG.md", "README.md"):
        assert files[name] == (PACKAGE / name).read_bytes(), name
    assert pkg_info["Metadata-Version"] == "2.4"
    assert pkg_info["License-Expression"] == "BSD-3-Clause"
    assert pkg_info.get_all("License-File") == ["LICENSE"]
    assert pkg_info["Version"] == jupyters3_auth_ec2.__version__


def test_changelog_names_the_current_version():
    """CHANGELOG.md's newest released version is the package's __version__."""
    text = (PACKAGE / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog")
    assert changelog_version(text) == jupyters3_auth_ec2.__version__


@pytest.mark.timeout(900)
def test_installs_with_core(dist, tmp_path):
    """Installed from its wheel next to core's wheel, it imports with its version, and
    jupyters3's default chain finds its entry point."""
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    clean = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    clean.update(PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    # Both wheels by path: a jupyters3-core on the index must not stand in for ours.
    wheels = [
        str(next(dist.glob(f"{name}-*.whl"))) for name in ("jupyters3_auth_ec2", "jupyters3_core")
    ]
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *wheels],
        check=True,
        timeout=600,
        env=clean,
    )
    probe = (
        "import importlib.metadata as m\n"
        "import jupyters3_auth_ec2\n"
        "eps = m.entry_points(group='jupyters3.credential_providers')\n"
        "print(jupyters3_auth_ec2.__version__, sorted(ep.value for ep in eps))\n"
    )
    out = subprocess.run(
        [str(python), "-c", probe],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean,
        cwd=env,
    )
    assert out.stdout.split(" ", 1) == [
        jupyters3_auth_ec2.__version__,
        "['jupyters3_auth_ec2:chain_provider']\n",
    ]
    subprocess.run(
        [str(python), "-m", "pip", "check"], check=True, capture_output=True, timeout=120, env=clean
    )
