"""jupyters3-auth-ec2 builds a wheel and an sdist and installs beside jupyters3-core."""

import subprocess
import sys
import tarfile
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import jupyters3_auth_ec2

PACKAGES = Path(__file__).resolve().parents[2]


def _build(package, out):
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-d", str(out)],
        cwd=PACKAGES / package,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """Wheels and sdists of this package and of jupyters3-core (its one dependency)."""
    out = tmp_path_factory.mktemp("dist")
    _build("jupyters3-auth-ec2", out)
    _build("jupyters3-core", out)
    return out


def test_metadata_depends_only_on_core(dist):
    """The runtime dependency is jupyters3-core alone; the wheel is typed."""
    wheel = next(dist.glob("jupyters3_auth_ec2-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(zf.read(meta_name).decode())

    assert metadata["Name"] == "jupyters3-auth-ec2"
    assert metadata.get_all("Requires-Dist") == ["jupyters3-core"]
    assert "jupyters3_auth_ec2/py.typed" in names
    with tarfile.open(next(dist.glob("jupyters3_auth_ec2-*.tar.gz"))) as tf:
        assert any(n.endswith("/README.md") for n in tf.getnames())


def test_installs_with_core(dist, tmp_path):
    """Installed from its wheel next to core's wheel, it imports with its version."""
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--find-links",
            str(dist),
            "jupyters3-auth-ec2",
        ],
        check=True,
        timeout=600,
    )
    out = subprocess.run(
        [str(python), "-c", "import jupyters3_auth_ec2 as m; print(m.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == jupyters3_auth_ec2.__version__
