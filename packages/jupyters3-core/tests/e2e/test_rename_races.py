"""No acknowledged save is lost to a concurrent rename (issue 15).

Two live Jupyter servers share one moto bucket. Server A renames a folder (or
a file) to a fresh name again and again; at the same time server B opens and
saves the files in it, as a user would: it finds the folder in the root
listing, GETs a file, and saves new content over it. Every save's content is
unique, and B records which content each save was based on.

Afterwards, read straight from moto: every save that B's server answered 2xx
is in the bucket with exactly its bytes, unless a later acknowledged save of
B's was based on it (and so replaced it knowingly). A rename that deleted a
version it had not copied would break this: that save would be nowhere.
"""

from __future__ import annotations

import random
import re
import threading
import uuid
from dataclasses import dataclass, field

import pytest

from jupyters3_testing import MotoServer, RawS3
from jupyters3_testing.jupyter import JupyterServer
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient

#: Saves B makes, and renames A makes meanwhile, at least: a fixed amount of
#: work, whatever the machine's speed (its throughput is the benchmark's
#: business), bounded in steps; the timeout only guards against a hang.
SAVES = 220
RENAMES = 10
#: Listings of B's (each followed by up to 4 saves, fewer when a rename moved
#: the folder away meanwhile: 1 in 4 on a loaded machine) before the test gives up.
MAX_ROUNDS = 10 * SAVES
FILES = 24


@dataclass
class Servers:
    a: ContentsClient
    b: ContentsClient
    a_server: JupyterServer
    raw: RawS3
    bucket: str


@pytest.fixture(scope="module")
def servers(
    js3_jupyter_session_factory: JupyterFactory, js3_moto_server: MotoServer, js3_region: str
) -> Servers:
    bucket = f"rr-{uuid.uuid4().hex[:12]}"
    js3_moto_server.create_bucket(bucket, js3_region)
    config = jupyters3_config(
        bucket=bucket, endpoint_url=js3_moto_server.endpoint_url, region=js3_region
    )
    a = js3_jupyter_session_factory(config=config)
    b = js3_jupyter_session_factory(config=config)
    return Servers(
        ContentsClient(a.url, a.token),
        ContentsClient(b.url, b.token),
        a,
        RawS3(js3_moto_server.endpoint_url, js3_region),
        bucket,
    )


@dataclass
class Ledger:
    """What B's server acknowledged: each save's content and what it was based on."""

    acknowledged: list[tuple[str, str, str | None]] = field(default_factory=list)
    refused: int = 0
    renames: int = 0
    rename_refusals: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def lost(self, final: set[str]) -> list[str]:
        replaced = {base for _, _, base in self.acknowledged if base is not None}
        return [
            f"{path}: {content}"
            for path, content, _ in self.acknowledged
            if content not in final and content not in replaced
        ]


def renamer(
    api: ContentsClient, parent: str, start: str, stop: threading.Event, ledger: Ledger
) -> None:
    """A: rename ``start`` to a fresh name, again and again, until ``stop``."""
    current = start
    pause = random.Random(start)
    for n in range(1, 10_000):
        if stop.wait(pause.uniform(0.0, 0.15)):  # leave B time to find the folder
            return
        stem, dot, ext = start.rpartition(".")
        fresh = f"{stem}-{n}{dot}{ext}" if dot else f"{start}-{n}"
        response = api.rename(f"{parent}/{current}".strip("/"), f"{parent}/{fresh}".strip("/"))
        ledger.statuses[response.status] = ledger.statuses.get(response.status, 0) + 1
        if response.status == 200:
            ledger.renames += 1
            current = fresh
        elif response.status == 409:
            ledger.rename_refusals += 1  # a file left behind (still changing): it moved on
            current = fresh
        else:
            raise AssertionError(f"rename: HTTP {response.status} {response.body[:300]!r}")


def writer_step(
    api: ContentsClient, path: str, rng: random.Random, ledger: Ledger, number: int
) -> bool:
    """B: open ``path`` and save new content over it; False if it is not there."""
    opened = api.get(path)
    if opened.status == 404:
        return False
    assert opened.status == 200, f"GET {path}: HTTP {opened.status} {opened.body[:200]!r}"
    base = opened.json["content"]
    content = f"save {number} {uuid.uuid4().hex} {rng.random()}\n"
    saved = api.save_text(path, content)
    ledger.statuses[saved.status] = ledger.statuses.get(saved.status, 0) + 1
    if saved.status in (200, 201):
        ledger.acknowledged.append((path, content, base))
    elif saved.status == 409:
        ledger.refused += 1  # a version B did not see: nothing written, nothing lost
    else:
        raise AssertionError(f"save {path}: HTTP {saved.status} {saved.body[:300]!r}")
    return True


def contents(raw: RawS3, bucket: str) -> set[str]:
    return {
        raw.get(bucket, key).decode() for key in raw.keys(bucket) if "/.checkpoints/" not in key
    }


@pytest.mark.js3_no_chaos
@pytest.mark.timeout(900)
def test_saves_during_folder_renames_are_never_lost(servers: Servers) -> None:
    top = f"r-{uuid.uuid4().hex[:8]}"
    for i in range(FILES):
        servers.a.save_text(f"{top}/dir/f-{i:02d}.txt", f"initial {i}\n").expect(201)
    ledger, stop = Ledger(), threading.Event()
    thread = threading.Thread(target=renamer, args=(servers.a, top, "dir", stop, ledger))
    rng = random.Random(15)
    thread.start()
    try:
        number = 0
        for _ in range(MAX_ROUNDS):
            if len(ledger.acknowledged) >= SAVES and ledger.renames >= RENAMES:
                break
            folders = [
                m["name"]
                for m in servers.b.get(top).expect(200).json["content"]
                if m["type"] == "directory"
            ]
            folder = rng.choice(folders)
            for _ in range(4):
                number += 1
                name = f"f-{rng.randrange(FILES):02d}.txt"
                if not writer_step(servers.b, f"{top}/{folder}/{name}", rng, ledger, number):
                    break
    finally:
        stop.set()
        thread.join(60)
    final = contents(servers.raw, servers.bucket)
    recopies = _recopies(servers.a_server.log_text())
    print(
        f"\nfolder renames: {len(ledger.acknowledged)} saves acknowledged, {ledger.refused} "
        f"refused (409), {ledger.renames} renames, {ledger.rename_refusals} renames that left "
        f"files behind (409), {recopies} sources copied again; statuses {ledger.statuses}"
    )
    assert ledger.lost(final) == []
    assert len(ledger.acknowledged) >= SAVES, f"fewer than {SAVES} saves in {MAX_ROUNDS} rounds"
    assert ledger.renames >= RENAMES


@pytest.mark.js3_no_chaos
@pytest.mark.timeout(900)
def test_saves_during_file_renames_are_never_lost(servers: Servers) -> None:
    top = f"s-{uuid.uuid4().hex[:8]}"
    servers.a.save_text(f"{top}/doc.txt", "initial\n").expect(201)
    ledger, stop = Ledger(), threading.Event()
    thread = threading.Thread(target=renamer, args=(servers.a, top, "doc.txt", stop, ledger))
    rng = random.Random(16)
    thread.start()
    try:
        for number in range(1, MAX_ROUNDS + 1):
            if len(ledger.acknowledged) >= SAVES // 2 and ledger.renames >= RENAMES:
                break
            names = [m["name"] for m in servers.b.get(top).expect(200).json["content"]]
            writer_step(servers.b, f"{top}/{rng.choice(names)}", rng, ledger, number)
    finally:
        stop.set()
        thread.join(60)
    final = contents(servers.raw, servers.bucket)
    print(
        f"\nfile renames: {len(ledger.acknowledged)} saves acknowledged, {ledger.refused} "
        f"refused (409), {ledger.renames} renames, {ledger.rename_refusals} left behind; "
        f"statuses {ledger.statuses}"
    )
    assert ledger.lost(final) == []
    assert len(ledger.acknowledged) >= SAVES // 2, f"too few saves in {MAX_ROUNDS} rounds"
    assert ledger.renames >= RENAMES


def _recopies(log: str) -> int:
    return sum(int(n) for n in re.findall(r"Rename: (\d+) source\(s\) changed meanwhile", log))
