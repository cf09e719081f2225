"""jupyters3-testing builds a wheel and an sdist with complete metadata: a pytest plugin
with the runtime dependencies its fixtures need."""

from __future__ import annotations

from pathlib import Path

import pytest

import jupyters3_testing
from jupyters3_testing.distributions import build, changelog_version, read_sdist, read_wheel

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: hatchling depends on tomli there
    import tomli as tomllib

PACKAGE = Path(__file__).resolve().parents[1]
REPO = PACKAGE.parents[1]
PYPROJECT = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
GITHUB = "https://github.com/jupyters3/jupyters3"
PYTHONS = ("3.10", "3.11", "3.12", "3.13")


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The package's wheel and sdist, built from the source tree."""
    out = tmp_path_factory.mktemp("dist")
    build(PACKAGE, out)
    return next(out.glob("*.whl")), next(out.glob("*.tar.gz"))


def test_runtime_dependencies_and_plugin_entry_point(dist):
    """What the fixtures import or run: jupyters3 (the client fixtures), pytest, moto's
    server (js3_moto_server), tornado (the fault proxy), boto3 (js3_raw) and
    jupyter_server (js3_jupyter); JupyterLab only through the ``lab`` extra. The
    plugin registers itself with pytest."""
    wheel, _ = dist
    built = read_wheel(wheel)
    names, metadata = built.names, built.metadata
    entry_points = built.read(".dist-info/entry_points.txt").decode()

    assert metadata["Name"] == "jupyters3-testing"
    assert metadata["Version"] == jupyters3_testing.__version__
    assert sorted(metadata.get_all("Requires-Dist")) == [
        "boto3>=1.36",
        "jupyter-server>=2.11",
        "jupyterlab>=4; extra == 'lab'",
        "jupyters3-core<0.2,>=0.1.0.dev0",  # checked against core's version in core's tests
        "moto[s3,server]>=5.0",
        "pytest>=7",
        "tornado>=6.2",
    ]
    assert metadata.get_all("Provides-Extra") == ["lab"]
    assert "[pytest11]\njupyters3 = jupyters3_testing.plugin" in entry_points
    assert "jupyters3_testing/py.typed" in names
    assert "jupyters3_testing/plugin.py" in names
    assert not any(n.startswith("tests/") for n in names)


def test_wheel_metadata_is_complete(dist):
    """License (expression and text), Python versions, classifiers, URLs, summary, readme."""
    wheel, _ = dist
    built = read_wheel(wheel)
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
    assert "Framework :: Pytest" in classifiers
    assert "Framework :: Jupyter" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # PEP 639: expression only

    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues", "Changelog"}
    assert urls["Homepage"] == GITHUB
    assert urls["Documentation"] == f"{GITHUB}/tree/main/packages/jupyters3-testing#readme"
    assert urls["Source"] == f"{GITHUB}/tree/main/packages/jupyters3-testing"
    assert urls["Issues"] == f"{GITHUB}/issues"
    assert urls["Changelog"] == f"{GITHUB}/blob/main/packages/jupyters3-testing/CHANGELOG.md"

    assert metadata["Summary"] == PYPROJECT["description"]
    assert "pytest" in metadata["Summary"]
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().startswith("# jupyters3-testing")
    assert "pytest" in metadata["Keywords"].split(",")


def test_sdist_carries_sources_tests_license_changelog_and_readme(dist):
    _, sdist = dist
    files, pkg_info = read_sdist(sdist)

    assert {"pyproject.toml", "src/jupyters3_testing/plugin.py"} <= set(files)
    assert any(n.startswith("tests/") for n in files)
    for name in ("LICENSE", "CHANGELOG.md", "README.md"):
        assert files[name] == (PACKAGE / name).read_bytes(), name
    assert pkg_info["Metadata-Version"] == "2.4"
    assert pkg_info["License-Expression"] == "BSD-3-Clause"
    assert pkg_info.get_all("License-File") == ["LICENSE"]
    assert pkg_info["Version"] == jupyters3_testing.__version__


def test_changelog_names_the_current_version():
    """CHANGELOG.md's newest released version is the package's __version__."""
    text = (PACKAGE / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog")
    assert changelog_version(text) == jupyters3_testing.__version__
