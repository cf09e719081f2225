"""jupyters3-core builds a wheel and an sdist with complete metadata, and
``pip install jupyters3-core jupyterlab`` alone gives a working JupyterLab on S3."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import time
import venv
from email.message import Message
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import jupyters3
from jupyters3_testing.distributions import build, changelog_version, read_sdist, read_wheel
from jupyters3_testing.leaks import find_secrets, random_secret
from jupyters3_testing.raw import RawS3
from jupyters3_testing.rest import ContentsClient
from jupyters3_testing.s3server import MotoServer, free_port

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: hatchling depends on tomli there
    import tomli as tomllib

PACKAGE = Path(__file__).resolve().parents[1]
REPO = PACKAGE.parents[1]
PYPROJECT = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
GITHUB = "https://github.com/jupyters3/jupyters3"
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
AWS_SDKS = ("boto3", "botocore", "s3fs", "aiohttp", "aiobotocore")


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The package's wheel and sdist, built from the source tree."""
    out = tmp_path_factory.mktemp("dist")
    build(PACKAGE, out)
    return next(out.glob("*.whl")), next(out.glob("*.tar.gz"))


def test_wheel_metadata_and_runtime_dependencies(dist):
    """The only runtime dependency is jupyter_server (pycurl only through the
    optional ``curl`` extra); the wheel is typed."""
    wheel, _ = dist
    built = read_wheel(wheel)
    names, metadata = built.names, built.metadata

    assert metadata["Name"] == "jupyters3-core"
    assert metadata["Version"] == jupyters3.__version__
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


def test_wheel_metadata_is_complete(dist):
    """License (expression and text), Python versions, classifiers, URLs, summary, readme."""
    wheel, _ = dist
    built = read_wheel(wheel)
    metadata = built.metadata
    license_text = built.read(".dist-info/licenses/LICENSE").decode()
    entry_points = built.read(".dist-info/entry_points.txt")

    assert license_text == (PACKAGE / "LICENSE").read_text() == (REPO / "LICENSE").read_text()
    # 2.4: the first with License-Expression / License-File, and what twine < 7 accepts.
    assert metadata["Metadata-Version"] == "2.4"
    assert license_text.startswith("BSD 3-Clause License")
    assert "Copyright (c) 2026, jupyters3 developers" in license_text
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata["License"] is None  # the expression replaces the legacy field
    assert metadata["Requires-Python"] == ">=3.10"

    classifiers = metadata.get_all("Classifier")
    for version in PYTHONS:
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert not [
        c
        for c in classifiers
        if re.match(r"Programming Language :: Python :: 3\.\d", c)
        and c.rsplit(" ", 1)[1] not in PYTHONS
    ]
    assert "Framework :: Jupyter" in classifiers
    assert "Framework :: Jupyter :: JupyterLab :: 4" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # PEP 639: expression only

    _assert_project_urls(metadata, "jupyters3-core")
    assert metadata["Summary"] == PYPROJECT["description"]
    assert "S3" in metadata["Summary"]
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().startswith("# jupyters3-core")  # the package README
    assert "s3" in metadata["Keywords"].split(",")
    assert b"jupyters3 = jupyters3.check:main" in entry_points


def _assert_project_urls(metadata: Message, package: str) -> None:
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues", "Changelog"}
    assert all(
        url == GITHUB or url.startswith((GITHUB + "/", GITHUB + "#")) for url in urls.values()
    ), urls
    assert urls["Homepage"] == GITHUB
    assert urls["Issues"] == f"{GITHUB}/issues"
    assert urls["Source"] == f"{GITHUB}/tree/main/packages/{package}"
    assert urls["Changelog"] == f"{GITHUB}/blob/main/packages/{package}/CHANGELOG.md"


def test_sdist_carries_sources_tests_license_changelog_and_readme(dist):
    """The sdist can rebuild the wheel and run the tests, and carries its legal and
    release notes."""
    _, sdist = dist
    files, pkg_info = read_sdist(sdist)
    names = set(files)

    assert {"pyproject.toml", "README.md", "src/jupyters3/__init__.py"} <= names
    assert {"LICENSE", "CHANGELOG.md"} <= names
    assert any(n.startswith("tests/unit/") for n in names)
    assert files["LICENSE"] == (PACKAGE / "LICENSE").read_bytes()
    assert files["CHANGELOG.md"] == (PACKAGE / "CHANGELOG.md").read_bytes()
    assert files["README.md"] == (PACKAGE / "README.md").read_bytes()
    assert pkg_info["Metadata-Version"] == "2.4"
    assert pkg_info["License-Expression"] == "BSD-3-Clause"
    assert pkg_info.get_all("License-File") == ["LICENSE"]
    assert pkg_info["Version"] == jupyters3.__version__


def test_changelog_names_the_current_version():
    """CHANGELOG.md's newest released version is the package's __version__."""
    text = (PACKAGE / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog")
    assert changelog_version(text) == jupyters3.__version__


# -- the other packages require this core version ----------------------------

#: The packages that depend on jupyters3-core, released from this repository too.
DEPENDENTS = ("jupyters3-auth-ec2", "jupyters3-testing", "jupyters3-hub")


def core_version_in_repository() -> Version:
    """``__version__`` of ``src/jupyters3/_version.py``, read as text (not the installed one)."""
    text = (PACKAGE / "src" / "jupyters3" / "_version.py").read_text()
    (version,) = re.findall(r"^__version__ = [\"']([^\"']+)[\"']$", text, re.M)
    return Version(version)


def core_requirement(dependent: str) -> Requirement:
    """The ``jupyters3-core`` requirement of ``packages/<dependent>/pyproject.toml``."""
    pyproject = tomllib.loads((REPO / "packages" / dependent / "pyproject.toml").read_text())
    found = [
        requirement
        for requirement in map(Requirement, pyproject["project"]["dependencies"])
        if canonicalize_name(requirement.name) == "jupyters3-core"
    ]
    assert len(found) == 1, f"{dependent} should depend on jupyters3-core once: {found}"
    return found[0]


def next_breaking_release(version: Version) -> Version:
    """The first core version that may break its dependents: the next minor release
    before 1.0, the next major one from 1.0 on (its first pre-release, ``.dev0``)."""
    major, minor = version.major, version.minor
    return Version(f"0.{minor + 1}.0.dev0" if major == 0 else f"{major + 1}.0.0.dev0")


@pytest.mark.parametrize("dependent", DEPENDENTS)
def test_dependents_require_the_core_version_of_this_repository(dependent: str) -> None:
    """jupyters3-auth-ec2 and jupyters3-testing each require the core versions they are
    tested with: a range that admits this repository's core version, as pip matches it
    without ``--pre`` (a ``.dev0`` core only matches a range that names a pre-release,
    and ``>=0.1`` excludes ``0.1.0.dev0``), starts within its release series, and stops
    before the next core release that may break them."""
    core = core_version_in_repository()
    requirement = core_requirement(dependent)
    spec = requirement.specifier
    assert (requirement.url, requirement.marker, requirement.extras) == (None, None, set())

    assert spec.contains(core, prereleases=True), (
        f"{dependent} requires {requirement}, which excludes jupyters3-core {core} "
        "(packages/jupyters3-core/src/jupyters3/_version.py): pip would refuse to "
        "install them together"
    )
    if core.is_prerelease:
        # Without --pre, pip (packaging) matches a pre-release only against a specifier
        # that names one: `<0.2` alone would not match 0.1.0.dev0 when any other
        # version is available.
        assert spec.prereleases, (
            f"{dependent} requires {requirement}, which does not admit the pre-release "
            f"jupyters3-core {core} without --pre: make the lower bound >={core}"
        )
    series = Version(f"{core.major}.{core.minor}.0.dev0")
    lower = [s for s in spec if s.operator in (">=", ">", "~=", "==")]
    assert lower and all(series <= Version(s.version) <= core for s in lower), (
        f"{dependent} requires {requirement}: its lower bound should be in {series}..{core}"
    )
    breaking = next_breaking_release(core)
    for version in (breaking, Version(breaking.base_version), Version("9999")):
        assert not spec.contains(version, prereleases=True), (
            f"{dependent} requires {requirement}, which admits jupyters3-core {version}: "
            f"bound it below {breaking}"
        )


def test_next_breaking_release() -> None:
    assert next_breaking_release(Version("0.1.0.dev0")) == Version("0.2.0.dev0")
    assert next_breaking_release(Version("0.9.3")) == Version("0.10.0.dev0")
    assert next_breaking_release(Version("1.4.0rc1")) == Version("2.0.0.dev0")


# -- pip install jupyters3-core jupyterlab, in a fresh venv -------------------

NOTEBOOK = {
    "cells": [
        {
            "cell_type": "markdown",
            "id": "c1",
            "metadata": {},
            "source": "# saved through JupyterLab from a plain pip install",
        }
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def _clean_env(**extra: str) -> dict[str, str]:
    """os.environ without anything that could make the venv see other packages or
    other Jupyter configuration."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PIP_USER"}
        and not k.startswith(("HATCH_", "JUPYTER_"))
    }
    env.update(PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


@pytest.fixture(scope="module")
def lab_venv(dist, tmp_path_factory):
    """A fresh venv (no system site packages) after ``pip install <core wheel> jupyterlab``:
    exactly what the README tells users to run, with JupyterLab from PyPI."""
    wheel, _ = dist
    env = tmp_path_factory.mktemp("lab-venv") / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env)
    python = env / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel), "jupyterlab"],
        capture_output=True,
        text=True,
        timeout=600,
        env=_clean_env(),
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    return env


@pytest.mark.xdist_group("lab_venv")  # one worker builds the venv for both tests
@pytest.mark.timeout(900)
def test_installs_alone_without_aws_sdks(lab_venv):
    """In the fresh venv jupyters3 imports from the installed wheel, no AWS SDK is
    installed or imported, and ``pip check`` finds every requirement met."""
    python = lab_venv / "bin" / "python"
    probe = (
        "import importlib.metadata as m, json, sys\n"
        "import jupyters3, jupyters3.s3.client, jupyters3.s3.signing, jupyters3.check\n"
        "from jupyters3 import JupyterS3\n"
        f"bad = set({AWS_SDKS!r})\n"
        "print(json.dumps({\n"
        "    'version': jupyters3.__version__,\n"
        "    'file': jupyters3.__file__,\n"
        "    'imported': sorted(bad & set(sys.modules)),\n"
        "    'installed': sorted(d.metadata['Name'].lower() for d in m.distributions()),\n"
        "    'path': sys.path,\n"
        "}))\n"
    )
    out = subprocess.run(
        [str(python), "-c", probe],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env(),
        cwd=lab_venv,
    )
    found = json.loads(out.stdout)
    assert found["version"] == jupyters3.__version__
    assert Path(found["file"]).is_relative_to(lab_venv), found["file"]
    assert found["imported"] == []
    installed = set(found["installed"])
    assert not set(AWS_SDKS) & installed, set(AWS_SDKS) & installed
    assert "jupyterlab" in installed and "jupyters3-core" in installed
    assert "pycurl" not in installed  # only through the `curl` extra
    # Nothing from the test environment or the system leaks into the venv.
    assert not [
        p for p in found["path"] if "site-packages" in p and not p.startswith(str(lab_venv))
    ]

    check = subprocess.run(
        [str(python), "-m", "pip", "check"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env(),
    )
    assert check.returncode == 0, check.stdout + check.stderr


def _page_config(page: str) -> dict:
    found = re.search(
        r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S
    )
    assert found, page[:2000]
    config: dict = json.loads(found.group(1))
    return config


@pytest.mark.xdist_group("lab_venv")
@pytest.mark.timeout(900)
def test_jupyterlab_from_the_venv_serves_s3(
    lab_venv: Path,
    tmp_path: Path,
    js3_moto_server: MotoServer,
    js3_bucket: str,
    js3_region: str,
    js3_raw: RawS3,
) -> None:
    """``jupyter lab`` of that venv, configured on the command line only, serves the lab
    page and keeps a new notebook in the bucket."""
    token = random_secret(32)
    secret_key = random_secret(40)
    root = tmp_path / "root"
    root.mkdir()
    jupyter_dirs = {name: tmp_path / name for name in ("config", "data", "runtime")}
    for path in jupyter_dirs.values():
        path.mkdir()
    env = _clean_env(
        JUPYTER_CONFIG_DIR=str(jupyter_dirs["config"]),
        JUPYTER_DATA_DIR=str(jupyter_dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(jupyter_dirs["runtime"]),
        AWS_ACCESS_KEY_ID="AKIAJS3PACKAGING0000",
        AWS_SECRET_ACCESS_KEY=secret_key,
        # Only the two variables above: no other credential source of this machine.
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/jupyters3-packaging/credentials",
        AWS_CONFIG_FILE="/nonexistent/jupyters3-packaging/config",
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONUNBUFFERED="1",
    )
    for name in (
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "JS3_CHAOS",
    ):
        env.pop(name, None)

    log_path = tmp_path / "jupyterlab.log"
    proc = None
    try:
        for _attempt in range(3):  # another process may take the free port first
            port = free_port()
            command = [
                str(lab_venv / "bin" / "jupyter"),
                "lab",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                "--no-browser",
                f"--IdentityProvider.token={token}",
                "--ServerApp.allow_root=True",  # CI containers often run as root
                f"--ServerApp.root_dir={root}",
                "--ServerApp.contents_manager_class=jupyters3.JupyterS3",
                f"--JupyterS3.aws_s3_bucket={js3_bucket}",
                f"--JupyterS3.endpoint_url={js3_moto_server.endpoint_url}",
                f"--JupyterS3.aws_region={js3_region}",
            ]
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=root,
                )
            client = ContentsClient(f"http://127.0.0.1:{port}/", token, timeout=30)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if client.status().status == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.25)
            if proc.poll() is None or "already in use" not in log_path.read_text().lower():
                break
        assert proc is not None
        log_text = log_path.read_text(errors="replace")
        assert proc.poll() is None, f"jupyter lab exited ({proc.returncode}):\n{log_text[-4000:]}"
        assert client.status().status == 200, f"no answer within 60 s:\n{log_text[-4000:]}"
        # JupyterS3 started from the command-line settings and the two environment variables.
        assert f"JupyterS3: contents in s3://{js3_bucket}/" in log_text, log_text[-4000:]
        assert "JupyterS3: AWS credentials from environment" in log_text, log_text[-4000:]

        # JupyterLab's page, with its page config, from the venv's jupyterlab.
        lab = client.request("GET", "lab").expect(200)
        assert lab.headers["Content-Type"].startswith("text/html")
        page = lab.body.decode()
        assert "<title>JupyterLab</title>" in page
        config = _page_config(page)
        assert config["appName"] == "JupyterLab"
        assert config["appVersion"].split(".")[0] == "4"
        # Its static bundle is installed and served too.
        bundle = re.search(r'<script[^>]+src="/?(static/lab/main\.[^"]+)"', page)
        assert bundle, page[:2000]
        client.request("GET", html.unescape(bundle.group(1))).expect(200)

        # The contents API is JupyterS3 on the bucket.
        assert client.get("").expect(200).json["content"] == []
        created = client.request("POST", "api/contents", json={"type": "notebook"}).expect(201)
        path = created.json["path"]
        assert (created.json["type"], path) == ("notebook", "Untitled.ipynb")
        assert js3_raw.exists(js3_bucket, path)
        client.save(path, {"type": "notebook", "content": NOTEBOOK}).expect(200)
        model = client.get(path).expect(200).json
        assert model["content"]["cells"][0]["source"] == NOTEBOOK["cells"][0]["source"]

        stored = json.loads(js3_raw.get(js3_bucket, path))
        assert "".join(stored["cells"][0]["source"]) == NOTEBOOK["cells"][0]["source"]
        keys = js3_raw.keys(js3_bucket)
        assert path in keys
        assert all(k == path or k.startswith(f"{path}/.checkpoints/") for k in keys), keys
        assert list(root.iterdir()) == []  # nothing on the local disk
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()  # SIGTERM to this PID only
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
    log_text = log_path.read_text(errors="replace")
    assert find_secrets(log_text, {"AWS_SECRET_ACCESS_KEY": secret_key}) == []
    assert "Traceback" not in log_text, log_text[-4000:]
