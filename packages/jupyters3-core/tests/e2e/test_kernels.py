"""Kernels work on their notebook's files: real ipykernel kernels on a live
server, on moto behind the fault proxy, sessions started as JupyterLab starts
them (POST /api/sessions on ``<folder>/<uuid>``, then PATCH).

One server for the module (a main bucket, a mount and a read-only mount);
each test works in a folder of its own. Every wait is bounded.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jupyters3_testing import FaultProxy, JupyterServer, MotoServer, RawS3
from jupyters3_testing.faults import Fault, RequestInfo
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient
from jupyters3_testing.sessions import KernelSession, Sessions, wait_for

pytestmark = [
    pytest.mark.xdist_group("kernels"),
    pytest.mark.skipif(os.name != "posix", reason="working folders need POSIX"),
]

#: The longest any sync may take here (about a second without faults; retries under chaos).
SYNC = 30.0
NOTE = ".jupyters3-working-folder.txt"


@dataclass
class Lab:
    server: JupyterServer
    sessions: Sessions
    api: ContentsClient
    raw: RawS3
    bucket: str
    team: str
    lake: str
    moto_url: str

    def folder(self) -> str:
        return f"f{uuid.uuid4().hex[:8]}"

    def put(self, key: str, data: bytes, bucket: str | None = None) -> None:
        self.raw.put(bucket or self.bucket, key, data)

    def get(self, key: str, bucket: str | None = None) -> bytes | None:
        bucket = bucket or self.bucket
        return self.raw.get(bucket, key) if self.raw.exists(bucket, key) else None

    def await_object(self, key: str, data: bytes, bucket: str | None = None) -> None:
        wait_for(lambda: self.get(key, bucket) == data, SYNC)

    def await_gone(self, key: str, bucket: str | None = None) -> None:
        wait_for(lambda: not self.raw.exists(bucket or self.bucket, key), SYNC)


@pytest.fixture(scope="module")
def lab(
    js3_moto_server: MotoServer,
    js3_fault_proxy_server: FaultProxy,
    js3_region: str,
    js3_jupyter_env: dict[str, str | None],
) -> Iterator[Lab]:
    tag = uuid.uuid4().hex[:10]
    buckets = [f"kernels-{tag}", f"kernels-team-{tag}", f"kernels-lake-{tag}"]
    for bucket in buckets:
        js3_moto_server.create_bucket(bucket, js3_region)
    config = jupyters3_config(
        bucket=buckets[0], endpoint_url=js3_fault_proxy_server.endpoint_url, region=js3_region
    )
    config["JupyterS3"].update(
        {
            "mounts": {
                "team": f"s3://{buckets[1]}/projects/",
                "lake": {"url": f"s3://{buckets[2]}/", "read_only": True},
            },
            "kernel_refresh_interval": 2.0,
            "kernel_max_file_bytes": 300_000,
            "kernel_max_folder_bytes": 1_000_000,
            "kernel_max_files": 50,
        }
    )
    # Kernels on local sockets: TCP ports picked by one process can be taken by another
    # (moto, proxies, servers and kernels of other workers) before the kernel binds them.
    config["KernelManager"] = {"transport": "ipc"}
    factory = JupyterFactory(config, js3_jupyter_env)
    try:
        server = factory()
        sessions = Sessions(server)
        api = ContentsClient(server.url, server.token)
        raw = RawS3(js3_moto_server.endpoint_url, js3_region)
        yield Lab(server, sessions, api, raw, *buckets, js3_moto_server.endpoint_url)
        sessions.close_all()
    finally:
        factory.close_all()


def _listing(lab: Lab, folder: str) -> set[str]:
    return {entry["name"] for entry in lab.api.get(folder).expect(200).json["content"]}


def _files(session: KernelSession) -> list[str]:
    return session.value(
        "sorted(os.path.relpath(os.path.join(d, f)) for d, _, fs in os.walk('.') for f in fs)"
    )


class _Conditions:
    """Records the conditional headers of the PUTs of keys under a prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.seen: dict[str, list[str]] = {}
        self.lock = threading.Lock()

    def wants_body(self, info: RequestInfo) -> bool:
        return False

    def decide(self, info: RequestInfo) -> Fault | None:
        if info.method == "PUT" and info.key.startswith(self.prefix) and not info.query:
            headers = {k.lower(): v for k, v in info.headers.items()}
            condition = (
                f"if-match {headers['if-match']}"
                if "if-match" in headers
                else "if-none-match"
                if "if-none-match" in headers
                else "none"
            )
            with self.lock:
                self.seen.setdefault(info.key, []).append(condition)
        return None


def test_a_notebook_reads_imports_and_writes_back(
    lab: Lab, js3_fault_proxy_server: FaultProxy, tmp_path: Path
) -> None:
    d = lab.folder()
    db = tmp_path / "db.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (x)")
        conn.execute("insert into t values (42)")
    conn.close()
    seeds = {
        "data.csv": b"a,b\n1,2\n",
        "utils.py": b"VALUE = 1\n",
        "lib/helpers.py": b"def answer():\n    return 42\n",
        "other.py": b"RAN = 'other'\n",
        "sub/deeper/notes.txt": b"deep\n",
        "db.sqlite": db.read_bytes(),
    }
    for rel, data in seeds.items():
        lab.put(f"{d}/{rel}", data)
    lab.api.save(f"{d}/analysis.ipynb", {"type": "notebook", "content": _notebook()}).expect(201)
    conditions = _Conditions(d + "/")
    js3_fault_proxy_server.add_hook(conditions)
    try:
        kernel = lab.sessions.start(f"{d}/analysis.ipynb")
        cwd = kernel.value("os.getcwd()")
        assert Path(cwd).parts[-1] == d
        assert Path(cwd).is_relative_to(lab.server.data_dir / "jupyters3-working")
        assert kernel.value("__session__") == os.path.join(cwd, "analysis.ipynb")
        assert kernel.value("os.path.exists(__session__)")
        env = kernel.value(
            "{k: v for k, v in os.environ.items() if k.startswith(('JUPYTERS3', 'AWS_'))}"
        )
        assert env["JUPYTERS3_NOTEBOOK_URL"] == f"s3://{lab.bucket}/{d}/analysis.ipynb"
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
        assert env["AWS_ENDPOINT_URL_S3"].startswith("http://127.0.0.1:")
        assert kernel.value("open('data.csv').read()") == "a,b\n1,2\n"
        assert kernel.value("__import__('utils').VALUE") == 1
        kernel.run("from lib import helpers")
        assert kernel.value("helpers.answer()") == 42
        kernel.run("get_ipython().run_line_magic('run', 'other.py')")
        assert kernel.value("RAN") == "other"
        query = "select x from t"
        assert (
            kernel.value(
                f"__import__('sqlite3').connect('db.sqlite').execute({query!r}).fetchone()[0]"
            )
            == 42
        )
        assert "sub/deeper/notes.txt" in _files(kernel)

        kernel.run(
            "open('out.csv', 'w').write('x,y\\n3,4\\n')\n"
            "os.makedirs('results/2026', exist_ok=True)\n"
            "open('results/2026/r.txt', 'w').write('r')\n"
            "os.remove('sub/deeper/notes.txt')\n"
            "open('data.csv', 'a').write('5,6\\n')\n"
            "import shutil; shutil.rmtree('__pycache__', ignore_errors=True)"
        )
        lab.await_object(f"{d}/out.csv", b"x,y\n3,4\n")
        lab.await_object(f"{d}/results/2026/r.txt", b"r")
        lab.await_object(f"{d}/data.csv", b"a,b\n1,2\n5,6\n")
        lab.await_gone(f"{d}/sub/deeper/notes.txt")
        assert "out.csv" in _listing(lab, d)
        # The notebook itself was never uploaded from the working folder, nor __pycache__.
        assert [
            k for k in lab.raw.keys(lab.bucket, d + "/") if "__pycache__" in k or NOTE in k
        ] == []
    finally:
        js3_fault_proxy_server.remove_hook(conditions)
    # The write policy: a new file only if absent, a changed one only over the version read.
    assert conditions.seen[f"{d}/out.csv"][0] == "if-none-match"
    assert conditions.seen[f"{d}/data.csv"][0].startswith("if-match")
    assert f"{d}/analysis.ipynb" not in conditions.seen
    lab.sessions.shutdown(kernel)


def _notebook() -> dict[str, object]:
    return {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_saves_renames_and_deletes_through_jupyter_reach_a_running_kernel(lab: Lab) -> None:
    d = lab.folder()
    lab.put(f"{d}/utils.py", b"VALUE = 1\n")
    lab.put(f"{d}/old.txt", b"old")
    lab.put(f"{d}/gone.txt", b"gone")
    kernel = lab.sessions.start(f"{d}/n.ipynb")
    kernel.run("import importlib, utils")
    assert kernel.value("utils.VALUE") == 1
    lab.api.save_text(f"{d}/utils.py", "VALUE = 2\n").expect(200)
    lab.api.rename(f"{d}/old.txt", f"{d}/new.txt").expect(200)
    lab.api.delete(f"{d}/gone.txt").expect(204)
    wait_for(lambda: kernel.value("open('utils.py').read()") == "VALUE = 2\n", SYNC)
    kernel.run("importlib.reload(utils)")
    assert kernel.value("utils.VALUE") == 2
    wait_for(lambda: kernel.value("sorted(os.listdir('.'))") == [NOTE, "new.txt", "utils.py"], SYNC)
    lab.sessions.shutdown(kernel)


def test_outside_changes_arrive_on_restart_and_on_refresh(lab: Lab) -> None:
    d = lab.folder()
    lab.put(f"{d}/a.txt", b"one")
    kernel = lab.sessions.start(f"{d}/n.ipynb")
    assert kernel.value("open('a.txt').read()") == "one"
    lab.put(f"{d}/a.txt", b"two")  # another tool, straight into the bucket
    lab.put(f"{d}/b.txt", b"new")
    lab.sessions.restart(kernel)
    wait_for(lambda: kernel.value("sorted(os.listdir('.'))") == [NOTE, "a.txt", "b.txt"], SYNC)
    restarted = f"kernel {kernel.kernel_id} restarted: refreshing the working folder of {d}"
    wait_for(lambda: restarted in lab.server.log_text(), SYNC)
    assert kernel.value("open('a.txt').read()") == "two"
    lab.put(f"{d}/a.txt", b"three")
    lab.raw.delete(lab.bucket, f"{d}/b.txt")
    wait_for(lambda: kernel.value("open('a.txt').read()") == "three", SYNC)  # refresh: 2 s here
    wait_for(lambda: not kernel.value("os.path.exists('b.txt')"), SYNC)
    lab.sessions.shutdown(kernel)


def test_a_conflict_keeps_both_versions(lab: Lab) -> None:
    d = lab.folder()
    lab.put(f"{d}/shared.csv", b"original\n")
    kernel = lab.sessions.start(f"{d}/n.ipynb")
    # Another tool changes the object, then the kernel changes its copy, in one cell.
    kernel.run(
        "import boto3\n"
        f"boto3.client('s3', endpoint_url={lab.moto_url!r}, region_name='us-east-1')"
        f".put_object(Bucket={lab.bucket!r}, Key='{d}/shared.csv', Body=b'from a pipeline\\n')\n"
        "open('shared.csv', 'w').write('from the kernel\\n')"
    )

    def copies() -> list[str]:
        return [k for k in lab.raw.keys(lab.bucket, d + "/") if "kernel conflict" in k]

    (copy,) = wait_for(copies, SYNC)
    assert copy.startswith(f"{d}/shared (kernel conflict ") and copy.endswith(").csv")
    assert lab.get(copy) == b"from the kernel\n"
    assert lab.get(f"{d}/shared.csv") == b"from a pipeline\n"
    local = copy.split("/", 1)[1]
    wait_for(lambda: kernel.value("open('shared.csv').read()") == "from a pipeline\n", SYNC)
    assert kernel.value(f"open({local!r}).read()") == "from the kernel\n"
    assert {"shared.csv", local} <= _listing(lab, d)
    assert "changed in S3 and in a kernel's working folder" in lab.server.log_text()
    lab.sessions.shutdown(kernel)


def test_two_kernels_and_a_console_share_one_working_folder(lab: Lab) -> None:
    d = lab.folder()
    lab.put(f"{d}/in.txt", b"in")
    first = lab.sessions.start(f"{d}/a.ipynb")
    second = lab.sessions.start(f"{d}/b.ipynb")
    console = lab.sessions.start(f"{d}/console-1-{uuid.uuid4()}", type="console")
    cwd = first.value("os.getcwd()")
    assert second.value("os.getcwd()") == cwd == console.value("os.getcwd()")
    first.run("open('from-first.txt', 'w').write('1')")
    assert second.value("open('from-first.txt').read()") == "1"
    lab.sessions.shutdown(first)
    second.run("open('from-second.txt', 'w').write('2')")
    lab.await_object(f"{d}/from-second.txt", b"2")
    assert Path(cwd).is_dir()  # still in use
    lab.sessions.shutdown(second)
    console.run("open('from-console.txt', 'w').write('3')")
    lab.sessions.shutdown(console)
    lab.await_object(f"{d}/from-console.txt", b"3")  # the last sync, as the last kernel ends
    lab.await_object(f"{d}/from-first.txt", b"1")
    wait_for(lambda: not Path(cwd).exists(), SYNC)


def test_kernels_in_a_mount_and_in_a_read_only_mount(lab: Lab) -> None:
    d = lab.folder()
    lab.put(f"projects/{d}/t.csv", b"team", bucket=lab.team)
    lab.put(f"{d}/l.csv", b"lake", bucket=lab.lake)
    team = lab.sessions.start(f"team/{d}/n.ipynb")
    assert team.value("open('t.csv').read()") == "team"
    assert (
        team.value("os.environ['JUPYTERS3_NOTEBOOK_URL']")
        == f"s3://{lab.team}/projects/{d}/n.ipynb"
    )
    team.run("open('w.csv', 'w').write('written')")
    lab.await_object(f"projects/{d}/w.csv", b"written", bucket=lab.team)

    lake = lab.sessions.start(f"lake/{d}/n.ipynb")
    assert lake.value("open('l.csv').read()") == "lake"
    assert lake.value("oct(os.stat('l.csv').st_mode & 0o777)") == "0o444"
    assert lake.value("oct(os.stat('.').st_mode & 0o777)") == "0o555"
    outcome = lake.run(
        "try:\n"
        "    open('l.csv', 'w').write('changed')\n"
        "    open('new.csv', 'w').write('new')\n"
        "    print('written')\n"
        "except PermissionError:\n"
        "    print('refused')"
    ).strip()
    assert outcome == ("written" if os.geteuid() == 0 else "refused")  # root ignores modes
    if outcome == "written":
        wait_for(lambda: "a read-only mount: changes stay local" in lab.server.log_text(), SYNC)
    assert lab.get(f"{d}/l.csv", bucket=lab.lake) == b"lake"
    assert lab.raw.keys(lab.lake, "") == [f"{d}/l.csv"]
    lab.sessions.shutdown(team)
    lab.sessions.shutdown(lake)


def test_limits_and_left_out_names_are_named_and_the_kernel_starts(lab: Lab) -> None:
    d = lab.folder()
    lab.put(f"{d}/big.bin", b"b" * 300_001)
    for i in range(5):
        lab.put(f"{d}/part{i}.bin", bytes([i]) * 250_000)  # 1.25 MB: more than the 1 MB in all
    lab.put(f"{d}/.env", b"SECRET=1")
    lab.put(f"{d}/lib/__pycache__/x.pyc", b"c")
    lab.api.save(f"{d}/n.ipynb", {"type": "notebook", "content": _notebook()}).expect(201)
    lab.api.create_checkpoint(f"{d}/n.ipynb").expect(201)
    kernel = lab.sessions.start(f"{d}/n.ipynb")
    files = _files(kernel)
    assert "big.bin" not in files and ".env" not in files
    assert not [f for f in files if "__pycache__" in f or "checkpoints" in f]
    assert len([f for f in files if f.startswith("part")]) == 3  # 750 KB of the 1 MB
    note = kernel.value(f"open({NOTE!r}).read()")
    assert "'big.bin': 300,001 bytes, over kernel_max_file_bytes" in note
    assert "'part3.bin': over kernel_max_folder_bytes in all" in note
    assert "'.env': matches the left-out name '.*'" in note
    assert "'lib/__pycache__/x.pyc': matches the left-out name '__pycache__'" in note
    assert "Checkpoints stay in S3" in note
    log = lab.server.log_text()
    assert "left out of its kernels' working folder" in log and "'big.bin'" in log
    kernel.run("open('huge.out', 'wb').write(b'h' * 300_001)")
    wait_for(lambda: "'huge.out'" in kernel.value(f"open({NOTE!r}).read()"), SYNC)
    assert not lab.raw.exists(lab.bucket, f"{d}/huge.out")
    lab.sessions.shutdown(kernel)


def test_hostile_keys_and_links_never_reach_outside_the_folder(lab: Lab, tmp_path: Path) -> None:
    d = lab.folder()
    hostile = {
        f"{d}/../escape.txt": "'..' segments",
        f"{d}//abs.txt": "empty path segment",
        f"{d}/ctl\x01.txt": "control character",
        f"{d}/{'n' * 300}": "255 bytes",
        f"{d}/case.txt": "only in case",
    }
    for key in hostile:
        lab.put(key, b"hostile")
    lab.put(f"{d}/Case.txt", b"first")
    assert set(hostile) <= set(lab.raw.keys(lab.bucket, d))  # straight into the bucket
    kernel = lab.sessions.start(f"{d}/n.ipynb")
    cwd = Path(kernel.value("os.getcwd()"))
    assert sorted(os.listdir(cwd)) == [NOTE, "Case.txt"]
    tree = cwd.parent
    assert not (tree / "escape.txt").exists() and not (tree.parent / "escape.txt").exists()
    note = kernel.value(f"open({NOTE!r}).read()")
    for reason in hostile.values():
        assert reason in note, (reason, note)

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    kernel.run(
        f"os.symlink({str(outside / 'secret.txt')!r}, 'link.txt')\n"
        f"os.symlink({str(outside)!r}, 'linkdir')\n"
        "open('real.txt', 'w').write('real')"
    )
    lab.await_object(f"{d}/real.txt", b"real")
    lab.api.save_text(f"{d}/linkdir/x.txt", "through the link?").expect(201)
    lab.api.save_text(f"{d}/link.txt", "over the link?").expect(201)
    wait_for(lambda: "'link.txt': a symbolic link" in kernel.value(f"open({NOTE!r}).read()"), SYNC)
    kernel.run("pass")  # one more idle: one more scan
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "secret"
    assert lab.get(f"{d}/link.txt") == b"over the link?"  # the API's, not the link's target
    assert not [k for k in lab.raw.keys(lab.bucket, d) if "secret" in k]
    lab.sessions.shutdown(kernel)
