"""pytest plugin: jupyter_server's own ``tests/services/contents`` on JupyterS3.

Loaded with ``-p jupyter_suite.plugin`` by ``run.py``, in a pytest process whose
rootdir is the sdist's extracted test-suite (``fetch.py``). It changes nothing
in those files; at collection it:

* replaces, in each contents test module, the fixtures that build jupyter_server's
  local-disk managers (listed in ``_seams()``) with ones that build a
  :class:`~jupyter_suite.mirror.MirroredJupyterS3` on the test's folder, and
  gives every module a ``jp_argv`` that makes the in-process ServerApp
  (``jp_serverapp``, ``jp_fetch``) serve it too. The variants of a replaced
  fixture (sync/async manager, atomic writing, checkpoint classes) collapse to
  one: JupyterS3;
* deselects the tests listed in ``EXCLUDED.toml``, each with its reason.

Checks that keep the count honest, so that a new jupyter_server release shows
at once what changed: a test that ran on jupyter_server's ``FileContentsManager``,
or that never created a JupyterS3, fails (a new seam: teach ``_seams()`` or
exclude the test); so do a fixture of ``_seams()`` missing from its module and an
exclusion pattern that matches no test (reported by an extra item,
``jupyter_suite/EXCLUDED.toml``).

At the end it prints ``jupyter_server X contents suite on JupyterS3: N passed,
N failed, N excluded`` and the exclusions grouped by reason
(``--js3-suite-report FILE`` also writes them as JSON).
"""

from __future__ import annotations

import fnmatch
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_suite import mirror

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest depends on tomli before 3.11
    import tomli as tomllib

EXCLUDED_FILE = Path(__file__).with_name("EXCLUDED.toml")
CONTENTS_DIR = "tests/services/contents/"
MIRROR_CLASS = f"{mirror.__name__}.MirroredJupyterS3"
CHECK_ID = "jupyter_suite/EXCLUDED.toml::harness"


# -- the seams -------------------------------------------------------------------


def _seams() -> dict[str, dict[str, Any]]:
    """Per module (``"*"``: every module), the fixtures to put in place of upstream's.

    Built in a function so that pytest does not register them as this plugin's
    own (global) fixtures.
    """

    @pytest.fixture(name="jp_argv")
    def jp_argv() -> list[str]:
        return [f"--ServerApp.contents_manager_class={MIRROR_CLASS}"]

    @pytest.fixture(name="jp_contents_manager")
    def jp_contents_manager(tmp_path: Path) -> mirror.MirroredJupyterS3:
        return mirror.MirroredJupyterS3(root_dir=str(tmp_path))

    @pytest.fixture(name="jp_file_contents_manager_class")
    def jp_file_contents_manager_class() -> type:
        return mirror.MirroredJupyterS3

    @pytest.fixture(name="file_manager_with_notary")
    def file_manager_with_notary(tmp_path: Path) -> mirror.MirroredJupyterS3:
        from nbformat.sign import NotebookNotary

        notary_dir = tmp_path / "notary"
        notary_dir.mkdir()
        root_dir = tmp_path / "root"
        root_dir.mkdir()
        cm = mirror.MirroredJupyterS3(root_dir=str(root_dir))
        cm.notary = NotebookNotary(data_dir=str(notary_dir))
        return cm

    @pytest.fixture(name="contents_manager")
    def contents_manager(contents: dict[str, Any]) -> mirror.MirroredJupyterS3:
        return mirror.MirroredJupyterS3(root_dir=str(contents["contents_dir"]))

    @pytest.fixture(name="jp_large_contents_manager")
    def jp_large_contents_manager(tmp_path: Path) -> mirror.MirroredJupyterS3:
        return mirror.MirroredJupyterS3(root_dir=str(tmp_path))

    return {
        "*": {"jp_argv": jp_argv},
        "test_manager.py": {
            "jp_contents_manager": jp_contents_manager,
            "jp_file_contents_manager_class": jp_file_contents_manager_class,
            "file_manager_with_notary": file_manager_with_notary,
        },
        "test_checkpoints.py": {"contents_manager": contents_manager},
        "test_largefilemanager.py": {"jp_large_contents_manager": jp_large_contents_manager},
    }


def _is_contents_module(path: Path) -> bool:
    return path.name.startswith("test_") and path.parent.as_posix().endswith(
        CONTENTS_DIR.rstrip("/")
    )


# -- state -----------------------------------------------------------------------


class _State:
    def __init__(self) -> None:
        self.problems: list[str] = []  # harness problems (stale seams or exclusions)
        self.excluded: list[tuple[str, str]] = []  # (test id, reason)
        self.outcomes: dict[str, str] = {}  # test id -> passed / failed / skipped
        self.reference_made: list[str] = []  # FileContentsManager classes built in a test
        self.harness_failed = False


_state = _State()


def _rel(nodeid: str) -> str:
    return nodeid[len(CONTENTS_DIR) :] if nodeid.startswith(CONTENTS_DIR) else nodeid


# -- hooks -----------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("jupyter_suite", "jupyter_server's contents tests on JupyterS3")
    group.addoption(
        "--js3-suite-report",
        default=None,
        metavar="FILE",
        help="write the counts, the failures and the exclusions (with reasons) here as JSON",
    )


def pytest_configure(config: pytest.Config) -> None:
    # The mirror's boto3 is harness, not the code under test: keep its DEBUG lines
    # out of the captured logs (jupyter_server's pytest settings log at DEBUG).
    for name in ("boto3", "botocore", "s3transfer", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)

    from jupyter_server.services.contents.filemanager import FileContentsManager

    original = FileContentsManager.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        _state.reference_made.append(type(self).__name__)
        original(self, *args, **kwargs)

    FileContentsManager.__init__ = init  # the class itself: every subclass, for the whole run
    config.add_cleanup(lambda: setattr(FileContentsManager, "__init__", original))


@pytest.fixture(scope="session", autouse=True)
def _js3_suite_s3(js3_moto_server: Any) -> None:
    """Every MirroredJupyterS3 of this process uses this process's moto server."""
    mirror.bind(js3_moto_server)


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makemodule(module_path: Path, parent: Any) -> Iterator[Any]:
    module = yield
    if isinstance(module, pytest.Module) and _is_contents_module(module_path):
        try:
            obj = module.obj  # imports the module before its fixtures are parsed
        except (Exception, pytest.skip.Exception):  # collecting it again reports that as usual
            return module
        seams = _seams()
        for name, fixture in seams["*"].items():
            setattr(obj, name, fixture)
        for name, fixture in seams.get(module_path.name, {}).items():
            if not hasattr(obj, name):
                _state.problems.append(
                    f"{module_path.name} no longer defines the fixture {name!r} that "
                    "plugin.py replaces: review _seams() for this jupyter_server version"
                )
            setattr(obj, name, fixture)
    return module


def _load_exclusions() -> list[tuple[str, str]]:
    data = tomllib.loads(EXCLUDED_FILE.read_text(encoding="utf-8"))
    out = []
    for group in data.get("exclude", []):
        reason = " ".join(str(group["reason"]).split())
        for pattern in group["tests"]:
            out.append((pattern, reason))
    return out


def _matches(test_id: str, pattern: str) -> bool:
    base = test_id.split("[", 1)[0]
    glob = pattern.replace("[", "[[]")  # node ids hold brackets; "*" stays a wildcard
    return any(fnmatch.fnmatchcase(candidate, glob) for candidate in (test_id, base))


class HarnessCheck(pytest.Item):
    """Fails when the harness no longer fits this jupyter_server version."""

    def __init__(self, *, problems: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problems = problems

    def runtest(self) -> None:
        if self.problems:
            raise AssertionError("\n".join(self.problems))

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        return str(excinfo.value)

    def reportinfo(self) -> tuple[Path, int, str]:
        return EXCLUDED_FILE, 0, "jupyter_suite harness check"


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselect: stale patterns are judged on all
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    exclusions = _load_exclusions()
    used: set[str] = set()
    collected_modules: set[str] = set()
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        test_id = _rel(item.nodeid)
        reason = None
        if item.nodeid.startswith(CONTENTS_DIR):
            collected_modules.add(test_id.split("::", 1)[0])
            for pattern, why in exclusions:
                if _matches(test_id, pattern):
                    used.add(pattern)
                    reason = reason or why
        if reason is None:
            keep.append(item)
        else:
            dropped.append(item)
            _state.excluded.append((test_id, reason))
    contents_dir = Path(str(config.rootpath), CONTENTS_DIR)
    for pattern, _ in exclusions:
        module = pattern.split("::", 1)[0]
        if pattern in used:
            continue
        if not (contents_dir / module).exists():
            _state.problems.append(
                f"EXCLUDED.toml: {pattern!r}: {module} is no longer in this jupyter_server "
                "version's tests: update the file"
            )
        elif module in collected_modules:
            _state.problems.append(
                f"EXCLUDED.toml: {pattern!r} matches no test of this jupyter_server "
                "version (renamed or removed upstream?): update the file"
            )
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    check = HarnessCheck.from_parent(
        session, name="harness", nodeid=CHECK_ID, problems=list(_state.problems)
    )
    items[:] = [*keep, check]
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["js3_excluded"] = _state.excluded


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    mirror.close_managers()
    _state.reference_made.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    result = yield
    if isinstance(item, HarnessCheck):
        return result
    if _state.reference_made:
        names = ", ".join(sorted(set(_state.reference_made)))
        raise AssertionError(
            f"jupyter_suite: this test ran on jupyter_server's {names}, not on JupyterS3: "
            "add its fixture to _seams() in plugin.py, or exclude it in EXCLUDED.toml with a reason"
        )
    if not mirror.managers_made():
        raise AssertionError(
            "jupyter_suite: this test never created a JupyterS3 (a new fixture or "
            "manager class upstream?): add it to _seams() in plugin.py, or exclude it "
            "in EXCLUDED.toml with a reason"
        )
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    # Before the fixtures' teardown: the S3 clients live on the test's event loop.
    mirror.close_managers()
    return (yield)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid == CHECK_ID:  # the harness, not one of jupyter_server's tests
        if report.failed:
            _state.harness_failed = True
        return
    test_id = _rel(report.nodeid)
    previous = _state.outcomes.get(test_id)
    if report.failed:
        _state.outcomes[test_id] = "failed"
    elif report.skipped and previous != "failed":
        _state.outcomes[test_id] = "skipped"
    elif report.when == "call" and report.passed and previous is None:
        _state.outcomes[test_id] = "passed"


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: the exclusions come from the workers (they collect)."""
    excluded = getattr(node, "workeroutput", {}).get("js3_excluded")
    if excluded and not _state.excluded:
        _state.excluded = [tuple(pair) for pair in excluded]


def _summary(config: pytest.Config) -> dict[str, Any]:
    import jupyter_server

    tests: dict[str, list[str]] = {"passed": [], "failed": [], "skipped": []}
    for test_id, outcome in sorted(_state.outcomes.items()):
        tests[outcome].append(test_id)
    by_reason: dict[str, list[str]] = {}
    for test_id, reason in _state.excluded:
        by_reason.setdefault(reason, []).append(test_id)
    return {
        "jupyter_server": jupyter_server.__version__,
        **{outcome: len(ids) for outcome, ids in tests.items()},
        "excluded": len(_state.excluded),
        "harness_ok": not _state.harness_failed,
        "tests": tests,
        "excluded_by_reason": by_reason,
    }


def _line(summary: dict[str, Any]) -> str:
    skipped = f", {summary['skipped']} skipped" if summary["skipped"] else ""
    return (
        f"jupyter_server {summary['jupyter_server']} contents suite on JupyterS3: "
        f"{summary['passed']} passed, {summary['failed']} failed, "
        f"{summary['excluded']} excluded{skipped}"
    )


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _is_worker(config) or not _state.outcomes:
        return
    summary = _summary(config)
    write: Callable[[str], None] = terminalreporter.write_line
    terminalreporter.section("jupyter_server's contents tests on JupyterS3")
    write(f"excluded: {summary['excluded']} tests that cannot apply without a local disk:")
    for reason, tests in summary["excluded_by_reason"].items():
        write(f"  {len(tests)} - {reason}")
        for test_id in tests:
            write(f"      {test_id}")
    if summary["failed"]:
        write(f"failed: {summary['failed']}")
        for test_id in summary["tests"]["failed"]:
            write(f"  {test_id}")
    if not summary["harness_ok"]:
        write(f"the harness does not fit this jupyter_server version: see {CHECK_ID} above")
    write(_line(summary))
    target = config.getoption("--js3-suite-report")
    if target:
        Path(target).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
