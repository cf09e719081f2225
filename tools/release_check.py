"""Build the four jupyters3 packages and check that they are ready to upload.

    hatch run release:build    the wheels and sdists of the four packages, into dist/
    hatch run release:check    build, then check them as a user and PyPI would see them

``check`` builds each package with ``python -m build`` (the sdist, then the
wheel from that sdist) into ``dist/``, then:

1. versions: each package's ``_version.py`` is the newest version of its
   CHANGELOG.md, and jupyters3-auth-ec2, jupyters3-testing and jupyters3-hub require a
   jupyters3-core range that admits the core being released;
2. ``twine check --strict`` on every file: the metadata and README checks
   PyPI's upload makes;
3. a fresh venv (``python -m venv``, no system site-packages) in a temporary
   directory, where ``pip install --find-links dist jupyters3-core
   jupyters3-auth-ec2 jupyters3-testing jupyters3-hub`` must take the four packages from
   dist/ (dependencies come from the package index), ``pip check`` passes,
   and nothing on ``sys.path`` or in a ``.pth`` file points into this
   repository;
4. jupyters3-testing's README quick start, written into a temporary project
   as a downstream user would and run with that venv's pytest (a live
   Jupyter server on jupyters3.JupyterS3 and a moto S3 server, both from the
   venv); a second test file of the same session checks that every module
   came from the venv, not from this repository;
5. ``jupyters3 check`` from the venv against a moto S3 server that the
   venv's jupyters3-testing starts on 127.0.0.1.

The last line of the output says whether the release is ready:
``release check: READY (4 packages, 0.1.0)`` (exit code 0), or
``release check: NOT READY: <reasons>`` (exit code 1). Nothing is uploaded:
after READY, ``twine upload dist/*`` uploads exactly the files checked.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
#: Distribution name -> (folder under packages/, import name); core first.
PACKAGES = {
    "jupyters3-core": ("packages/jupyters3-core", "jupyters3"),
    "jupyters3-auth-ec2": ("packages/jupyters3-auth-ec2", "jupyters3_auth_ec2"),
    "jupyters3-testing": ("packages/jupyters3-testing", "jupyters3_testing"),
    "jupyters3-hub": ("packages/jupyters3-hub", "jupyters3_hub"),
}
CORE = "jupyters3-core"
BUCKET = "release-check"

PREFIX = "release check:"


class StepFailed(Exception):
    """A check found a problem; its message is one reason of NOT READY."""


def say(message: str) -> None:
    print(f"{PREFIX} {message}", flush=True)


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    what: str,
) -> str:
    """Run a command; its output is returned, and shown (tail) when it fails."""
    try:
        proc = subprocess.run(  # noqa: S603 - argv lists built here, no shell
            [str(a) for a in argv],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise StepFailed(f"{what}: no result within {timeout:.0f} s") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:])
        print(f"--- {what} (exit code {proc.returncode}), last lines:\n{tail}\n---", flush=True)
        raise StepFailed(f"{what} failed (exit code {proc.returncode})")
    return proc.stdout


# -- versions -----------------------------------------------------------------


def package_version(name: str) -> Version:
    folder, module = PACKAGES[name]
    text = (REPO / folder / "src" / module / "_version.py").read_text()
    found = re.findall(r"^__version__ = [\"']([^\"']+)[\"']$", text, re.M)
    if len(found) != 1:
        raise StepFailed(f"{folder}/src/{module}/_version.py has no __version__ line")
    return Version(found[0])


def changelog_version(name: str) -> str | None:
    text = (REPO / PACKAGES[name][0] / "CHANGELOG.md").read_text()
    released = [v for v in re.findall(r"^## \[([^\]]+)\]", text, re.M) if v.lower() != "unreleased"]
    return released[0] if released else None


def core_requirement(name: str) -> Requirement | None:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the release env installs tomli
        import tomli as tomllib

    pyproject = tomllib.loads((REPO / PACKAGES[name][0] / "pyproject.toml").read_text())
    found = [
        r
        for r in map(Requirement, pyproject["project"].get("dependencies", []))
        if canonicalize_name(r.name) == CORE
    ]
    return found[0] if found else None


def check_versions(versions: dict[str, Version]) -> str:
    problems = []
    for name, version in versions.items():
        logged = changelog_version(name)
        if logged != str(version):
            problems.append(f"{name} {version}: its CHANGELOG.md's newest version is {logged}")
    core = versions[CORE]
    for name in PACKAGES:
        if name == CORE:
            continue
        requirement = core_requirement(name)
        if requirement is None:
            problems.append(f"{name} does not depend on {CORE}")
        elif not requirement.specifier.contains(core, prereleases=True):
            problems.append(f"{name} requires {requirement}, which excludes {CORE} {core}")
        elif core.is_prerelease and not requirement.specifier.prereleases:
            problems.append(f"{name} requires {requirement}: pip needs --pre for {CORE} {core}")
        elif not str(requirement.specifier).count("<"):
            problems.append(f"{name} requires {requirement}: no upper bound")
    if problems:
        raise StepFailed("; ".join(problems))
    return ", ".join(f"{name} {version}" for name, version in versions.items())


# -- build ----------------------------------------------------------------------


def build(dist: Path, versions: dict[str, Version]) -> list[Path]:
    """``python -m build`` of each package (sdist, then the wheel from it) into ``dist``."""
    dist.mkdir(parents=True, exist_ok=True)
    for old in [*dist.glob("jupyters3_*.whl"), *dist.glob("jupyters3_*.tar.gz")]:
        old.unlink()
    files = []
    for name, (folder, _) in PACKAGES.items():
        run(
            [sys.executable, "-m", "build", "--outdir", dist, REPO / folder],
            cwd=REPO,
            what=f"python -m build {folder}",
        )
        stem = f"{canonicalize_name(name).replace('-', '_')}-{versions[name]}"
        built = [dist / f"{stem}-py3-none-any.whl", dist / f"{stem}.tar.gz"]
        missing = [p.name for p in built if not p.is_file()]
        if missing:
            raise StepFailed(f"building {folder} made no {', '.join(missing)}")
        files += built
    return files


def twine_check(files: list[Path]) -> str:
    """The checks PyPI's upload makes of the metadata and of the README's rendering."""
    out = run(
        [sys.executable, "-m", "twine", "--no-color", "check", "--strict", *files],
        cwd=REPO,
        what="twine check --strict",
    )
    passed = re.findall(r"^Checking (\S+): PASSED$", out, re.M)
    if sorted(passed) != sorted(str(f) for f in files):
        print(out, flush=True)
        raise StepFailed("twine check --strict did not pass every file")
    return f"{len(passed)} files PASSED"


# -- the fresh venv -----------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without what could make the venv see this repository, other
    packages, other Jupyter configuration or this machine's AWS credentials."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PIP_USER"}
        and not k.startswith(("HATCH_", "JUPYTER_", "AWS_", "JS3_", "PYTEST_"))
    }
    env.update(PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def make_venv(work: Path, dist: Path, versions: dict[str, Version]) -> tuple[Path, dict[str, str]]:
    """A fresh venv with the four packages from ``dist`` (by name: the version
    ranges are resolved as for users), checked to hold nothing of this repository."""
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    env = clean_env(PATH=f"{env_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    report = work / "pip-report.json"
    names = list(PACKAGES)
    run(
        [python, "-m", "pip", "install", "--find-links", dist, "--report", report, *names],
        cwd=work,
        env=env,
        what=f"pip install --find-links dist {' '.join(names)}",
    )
    installed: dict[str, dict[str, Any]] = {
        canonicalize_name(item["metadata"]["name"]): item
        for item in json.loads(report.read_text())["install"]
    }
    for name in names:
        item = installed.get(name)
        if item is None:
            raise StepFailed(f"pip did not install {name}")
        url = item["download_info"]["url"]
        source = Path(unquote(urlparse(url).path))
        if not url.startswith("file:") or source.parent != dist.resolve():
            raise StepFailed(f"pip took {name} from {url}, not from dist/")
        if Version(item["metadata"]["version"]) != versions[name]:
            raise StepFailed(f"pip installed {name} {item['metadata']['version']}")
    run([python, "-m", "pip", "check"], cwd=work, env=env, what="pip check")

    probe = (
        "import importlib, json, sys\n"
        f"mods = {[module for _, module in PACKAGES.values()]!r}\n"
        "found = {m: importlib.import_module(m) for m in mods}\n"
        "print(json.dumps({'path': sys.path, 'prefix': sys.prefix,\n"
        "    'files': {m: mod.__file__ for m, mod in found.items()},\n"
        "    'versions': {m: mod.__version__ for m, mod in found.items()}}))\n"
    )
    out = json.loads(run([python, "-c", probe], cwd=work, env=env, what="import the packages"))
    for name, (_, module) in PACKAGES.items():
        file = Path(out["files"][module]).resolve()
        if not file.is_relative_to(env_dir.resolve()):
            raise StepFailed(f"{module} imports from {file}, not from the venv")
        if Version(out["versions"][module]) != versions[name]:
            raise StepFailed(f"{module}.__version__ is {out['versions'][module]}")
    inside = [p for p in out["path"] if p and Path(p).resolve().is_relative_to(REPO)]
    pth = [p.name for p in env_dir.rglob("*.pth") if str(REPO) in p.read_text(errors="replace")]
    if inside or pth:
        raise StepFailed(f"the venv sees this repository: sys.path {inside}, .pth files {pth}")
    return python, env


# -- the downstream quick start ---------------------------------------------------

#: Run after the README's test, in the same pytest session.
PROVENANCE_TEST = '''\
"""Every jupyters3 module this session imported came from the venv, none from the repository."""

import sys
from pathlib import Path

REPO = Path({repo!r})


def test_modules_come_from_the_venv() -> None:
    prefix = Path(sys.prefix).resolve()
    ours = {{
        name: Path(module.__file__).resolve()
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in {modules!r} and getattr(module, "__file__", None)
    }}
    assert "jupyters3_testing" in {{name.split(".")[0] for name in ours}}, ours
    assert all(path.is_relative_to(prefix) for path in ours.values()), ours
    from_repo = [
        name
        for name, module in list(sys.modules.items())
        if getattr(module, "__file__", None)
        and Path(module.__file__).resolve().is_relative_to(REPO)
    ]
    assert not from_repo, from_repo
'''


def quick_start_test() -> str:
    readme = (REPO / PACKAGES["jupyters3-testing"][0] / "README.md").read_text()
    found = re.search(
        r"<!-- jupyter-example:start -->\s*```python\n(.*?)```\s*<!-- jupyter-example:end -->",
        readme,
        re.S,
    )
    if not found:
        raise StepFailed("jupyters3-testing's README has no jupyter-example block")
    return found.group(1)


def run_quick_start(work: Path, python: Path, env: dict[str, str]) -> str:
    project = work / "downstream"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_s3_contents.py").write_text(quick_start_test())
    modules = sorted(module for _, module in PACKAGES.values())
    (project / "test_zz_provenance.py").write_text(
        PROVENANCE_TEST.format(repo=str(REPO), modules=modules)
    )
    out = run(
        [
            python,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_s3_contents.py",
            "test_zz_provenance.py",
        ],
        cwd=project,
        env=env,
        timeout=600,
        what="pytest -q test_s3_contents.py (jupyters3-testing's quick start)",
    )
    summary = out.strip().splitlines()[-1]
    if not re.fullmatch(r"=*\s*2 passed.*", summary):
        raise StepFailed(f"the quick start's pytest said: {summary}")
    return summary.strip("= ")


# -- jupyters3 check against moto ---------------------------------------------------

CHECK_DRIVER = '''\
"""Start moto (jupyters3-testing's MotoServer) on 127.0.0.1, then run `jupyters3 check`."""

import os
import subprocess
import sys
from pathlib import Path

from jupyters3_testing.s3server import MotoServer

bin_dir = Path(sys.executable).parent
server = MotoServer().start()
try:
    server.create_bucket({bucket!r})
    config = Path("jupyter_server_config.py")
    config.write_text(
        "c.ServerApp.contents_manager_class = 'jupyters3.JupyterS3'\\n"
        "c.JupyterS3.aws_s3_bucket = {bucket!r}\\n"
        "c.JupyterS3.aws_region = 'us-east-1'\\n"
        f"c.JupyterS3.endpoint_url = {{server.endpoint_url!r}}\\n"
    )
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="AKIARELEASECHECK0000",
        AWS_SECRET_ACCESS_KEY="release-check-secret-not-a-real-key",
        AWS_SHARED_CREDENTIALS_FILE=str(Path("no-aws-credentials").resolve()),
        AWS_CONFIG_FILE=str(Path("no-aws-config").resolve()),
        AWS_EC2_METADATA_DISABLED="true",
        JUPYTER_CONFIG_DIR=str(Path("jupyter-config").resolve()),
    )
    print(f"moto server {{server.endpoint_url}} (pid {{server.pid}}), python {{sys.executable}}")
    check = subprocess.run(
        [str(bin_dir / "jupyters3"), "check", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    print(check.stdout, end="")
finally:
    server.stop()
sys.exit(check.returncode)
'''


def run_jupyters3_check(work: Path, python: Path, env: dict[str, str]) -> str:
    project = work / "check"
    project.mkdir()
    (project / "jupyter-config").mkdir()
    driver = project / "check_against_moto.py"
    driver.write_text(CHECK_DRIVER.format(bucket=BUCKET))
    out = run(
        [python, driver], cwd=project, env=env, timeout=600, what="jupyters3 check against moto"
    )
    print("\n".join(f"    {line}" for line in out.strip().splitlines()), flush=True)
    if not re.search(rf"^jupyters3 check s3://{BUCKET}/$", out, re.M) or re.search(
        r"^FAIL ", out, re.M
    ):
        raise StepFailed("jupyters3 check did not pass against moto")
    return f"every step of jupyters3 check passed on s3://{BUCKET}/"


# -- main -------------------------------------------------------------------------


def step(number: int, total: int, title: str, action: Callable[[], str | None]) -> bool:
    say(f"[{number}/{total}] {title} ...")
    started = time.monotonic()
    try:
        detail = action()
    except StepFailed as exc:
        say(f"[{number}/{total}] {title}: FAILED: {exc} ({time.monotonic() - started:.0f} s)")
        REASONS.append(str(exc))
        return False
    tail = f": {detail}" if detail else ""
    say(f"[{number}/{total}] {title}: ok{tail} ({time.monotonic() - started:.0f} s)")
    return True


REASONS: list[str] = []


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("command", choices=["build", "check"], nargs="?", default="check")
    parser.add_argument(
        "--dist", type=Path, default=REPO / "dist", help="where the files go (default: dist/)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary venv and projects (check)"
    )
    args = parser.parse_args(argv)
    dist = args.dist.resolve()
    started = time.monotonic()

    try:
        versions = {name: package_version(name) for name in PACKAGES}
    except StepFailed as exc:
        say(f"NOT READY: {exc}")
        return 1

    if args.command == "build":
        try:
            built = build(dist, versions)
        except StepFailed as exc:
            print(f"release build: FAILED: {exc}")
            return 1
        for path in built:
            print(f"release build: {path}")
        print(f"release build: {len(built)} files in {dist} ({time.monotonic() - started:.0f} s)")
        return 0

    work = Path(tempfile.mkdtemp(prefix="jupyters3-release-check-")).resolve()
    if work.is_relative_to(REPO):
        say(f"NOT READY: the temporary directory {work} is inside the repository (set TMPDIR)")
        return 1
    total = 6
    try:
        step(1, total, "versions and dependency ranges", lambda: check_versions(versions))
        files: list[Path] = []

        def do_build() -> str:
            files.extend(build(dist, versions))
            return f"{len(files)} files in {dist}"

        if step(2, total, "build wheels and sdists (python -m build)", do_build):
            step(3, total, "twine check --strict", lambda: twine_check(files))
            installed: list[tuple[Path, dict[str, str]]] = []

            def do_install() -> str:
                installed.append(make_venv(work, dist, versions))
                return f"{', '.join(PACKAGES)} from dist/ in {work / 'venv'}; pip check ok"

            if step(4, total, "install the wheels into a fresh venv", do_install):
                python, env = installed[0]
                step(
                    5,
                    total,
                    "jupyters3-testing's quick start, as a downstream project",
                    lambda: run_quick_start(work, python, env),
                )
                step(
                    6,
                    total,
                    "jupyters3 check against moto, from the venv",
                    lambda: run_jupyters3_check(work, python, env),
                )
            else:
                REASONS.append("steps 5-6 not run (no venv)")
        else:
            REASONS.append("steps 3-6 not run (no build)")
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    elapsed = time.monotonic() - started
    if REASONS:
        say(f"NOT READY: {'; '.join(REASONS)} ({elapsed:.0f} s)")
        return 1
    same = {str(v) for v in versions.values()}
    described = same.pop() if len(same) == 1 else ", ".join(f"{n} {v}" for n, v in versions.items())
    say(f"READY ({len(PACKAGES)} packages, {described}; {elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
