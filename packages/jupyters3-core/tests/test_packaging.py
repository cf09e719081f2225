"""jupyters3-core builds a wheel and an sdist and installs on its own."""

import subprocess
import sys
import tarfile
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import jupyters3

PACKAGE = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The package's wheel and sdist, built from the source tree."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-d", str(out)],
        cwd=PACKAGE,
        check=True,
        capture_output=True,
    )
    return next(out.glob("*.whl")), next(out.glob("*.tar.gz"))


def test_wheel_metadata_and_runtime_dependencies(dist):
    """The only runtime dependency is jupyter_server (pycurl only through the
    optional ``curl`` extra); the wheel is typed."""
    wheel, _ = dist
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(zf.read(metadata_name).decode())

    assert metadata["Name"] == "jupyters3-core"
    assert metadata.get_all("Requires-Dist") == [
        "jupyter-server>=2.11",
        "pycurl>=7.45; extra == 'curl'",
    ]
    assert metadata.get_all("Provides-Extra") == ["curl"]
    assert metadata["Requires-Python"] == ">=3.10"
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert "jupyters3/py.typed" in names
    assert "jupyters3/s3/signing.py" in names
    assert not any(n.startswith("tests/") for n in names)


def test_sdist_carries_sources_tests_and_readme(dist):
    """The sdist can rebuild the wheel and run the tests."""
    _, sdist = dist
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}

    assert {"pyproject.toml", "README.md", "src/jupyters3/__init__.py"} <= names
    assert any(n.startswith("tests/unit/") for n in names)


def test_installs_alone_without_aws_sdks(dist, tmp_path):
    """In a fresh venv the wheel installs, imports, and pulls in no AWS SDK."""
    wheel, _ = dist
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)], check=True, timeout=600
    )
    probe = (
        "import importlib.metadata as m, sys\n"
        "import jupyters3, jupyters3.s3.client, jupyters3.s3.signing\n"
        "bad = {'boto3', 'botocore', 's3fs', 'aiohttp', 'aiobotocore'}\n"
        "assert not bad & set(sys.modules), bad & set(sys.modules)\n"
        "installed = {d.metadata['Name'].lower() for d in m.distributions()}\n"
        "assert not bad & installed, bad & installed\n"
        "print(jupyters3.__version__)\n"
    )
    out = subprocess.run(
        [str(python), "-c", probe], check=True, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == jupyters3.__version__
    subprocess.run([str(python), "-m", "pip", "check"], check=True, capture_output=True)
