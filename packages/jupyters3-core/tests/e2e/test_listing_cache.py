"""Big folders: the listing cache on live servers, requests counted at the proxy.

Three servers share one bucket, each behind its own proxy (so each one's
requests are counted apart). A and B have ``listing_max_age = 3`` s: what one
writes, the other sees within the bound. C keeps listings long
(``listing_max_age = 600``, ``listing_cache_entries = 3000``) and its proxy
makes every LIST page of the folders under test 1.5 s slow, so that a walk
costs at least 3 s and its listing is kept 30 s or more (ten times the walk)
whatever the machine's speed: what C lists again within that time must come
from the cache, or from a walk the test can explain (its own writes never
cause one; an eviction does). A folder of 1,100 files is two LIST pages: it
is kept. A folder of a few files is one page: it is always listed afresh.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from jupyters3_testing import Fault, FaultProxy, MotoServer, ProxyRecord, RawS3, RequestInfo
from jupyters3_testing.jupyter import merge_config
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient

pytestmark = pytest.mark.js3_no_chaos  # LIST requests are counted exactly

MAX_AGE = 3.0
#: More than one LIST page (1,000 entries): a folder the cache keeps.
BIG = 1100


@dataclass
class Server:
    api: ContentsClient
    proxy: FaultProxy

    def lists(self, folder: str) -> int:
        """ListObjectsV2 requests of the folder's listing (delimited) in the proxy's log."""
        return sum(1 for r in self.proxy.records() if _lists(r, folder))

    def names(self, folder: str) -> set[str]:
        return {m["name"] for m in self.api.get(folder).expect(200).json["content"]}


def _lists(record: ProxyRecord, folder: str) -> bool:
    q = record.query
    return "list-type" in q and q.get("prefix") == folder + "/" and q.get("delimiter") == "/"


@dataclass
class Env:
    a: Server
    b: Server
    c: Server
    raw: RawS3
    bucket: str

    def seed(self, folder: str, count: int) -> None:
        """``count`` files straight into S3 (as a pipeline would), in threads."""
        keys = [f"{folder}/f-{i:05d}.txt" for i in range(count)]

        def put(chunk: list[str]) -> None:
            for key in chunk:
                self.raw.put(self.bucket, key, b"x")

        threads = [threading.Thread(target=put, args=(keys[i::8],)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)

    def s3_names(self, folder: str) -> set[str]:
        found = set()
        for key in self.raw.keys(self.bucket, folder + "/"):
            rest = key[len(folder) + 1 :]
            if rest:
                found.add(rest.split("/", 1)[0])
        return found


@pytest.fixture(scope="module")
def env(
    js3_jupyter_session_factory: JupyterFactory, js3_moto_server: MotoServer, js3_region: str
) -> Iterator[Env]:
    bucket = f"listings-{uuid.uuid4().hex[:10]}"
    js3_moto_server.create_bucket(bucket, js3_region)
    servers, proxies = [], []
    for max_age in (MAX_AGE, MAX_AGE, 600.0):
        proxy = FaultProxy(js3_moto_server.endpoint_url).start()
        config = merge_config(
            jupyters3_config(bucket=bucket, endpoint_url=proxy.endpoint_url, region=js3_region),
            {"JupyterS3": {"listing_max_age": max_age, "listing_cache_entries": 3000}},
        )
        server = js3_jupyter_session_factory(config=config)
        servers.append(Server(ContentsClient(server.url, server.token), proxy))
        proxies.append(proxy)
    servers[2].proxy.configure(rule=_slow_big_listings)
    try:
        yield Env(*servers, RawS3(js3_moto_server.endpoint_url, js3_region), bucket)
    finally:
        for proxy in proxies:
            proxy.stop()


def _slow_big_listings(info: RequestInfo) -> Fault | None:
    """Server C's LIST pages of the folders under test: 1.5 s each."""
    prefix = info.query.get("prefix", "")
    listing = "list-type" in info.query and info.query.get("delimiter") == "/"
    return Fault.slow(1.5) if listing and prefix.startswith(("big-", "cap")) else None


@pytest.fixture
def big(env: Env) -> str:
    folder = f"big-{uuid.uuid4().hex[:8]}"
    env.seed(folder, BIG)
    for server in (env.a, env.b, env.c):
        server.proxy.clear()
    return folder


def test_concurrent_listings_of_a_big_folder_share_one_walk(env: Env, big: str) -> None:
    answers: list[int] = []

    def listing() -> None:
        answers.append(len(env.a.api.get(big).expect(200).json["content"]))

    threads = [threading.Thread(target=listing) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert answers == [BIG] * 5
    assert env.a.lists(big) == 2  # one walk: two pages


WRITES: list[tuple[str, Callable[[ContentsClient, str], object]]] = [
    ("save", lambda a, d: a.save_text(f"{d}/new.txt", "new").expect(201)),
    ("save over", lambda a, d: a.save_text(f"{d}/f-00001.txt", "changed").expect(200)),
    ("mkdir", lambda a, d: a.mkdir(f"{d}/sub").expect(201)),
    ("new untitled", lambda a, d: a.new_untitled(d, type="notebook").expect(201)),
    ("copy", lambda a, d: a.copy(f"{d}/f-00002.txt", d).expect(201)),
    ("rename", lambda a, d: a.rename(f"{d}/f-00003.txt", f"{d}/moved.txt").expect(200)),
    ("delete", lambda a, d: a.delete(f"{d}/f-00004.txt").expect(204)),
    ("chunked upload", lambda a, d: a.upload_chunked(f"{d}/up.bin", b"u" * 2_500_000)[-1].expect()),
    ("checkpoint", lambda a, d: a.create_checkpoint(f"{d}/f-00005.txt").expect(201)),
    ("folder copy in", lambda a, d: a.copy(f"{d}/sub", d).expect(201)),
    ("folder delete", lambda a, d: a.delete(f"{d}/sub").expect(204)),
]


def test_own_writes_keep_the_big_listing_exact_with_no_list(env: Env, big: str) -> None:
    """After each kind of write of this server's, the listing is what S3 holds,
    and costs no LIST: the kept listing was updated in place."""
    assert len(env.c.names(big)) == BIG
    assert env.c.lists(big) == 2
    for name, write in WRITES:
        write(env.c.api, big)
        listed = env.c.names(big)
        assert listed == env.s3_names(big), name
        assert env.c.lists(big) == 2, f"{name}: the listing sent a LIST"


def test_another_servers_write_shows_within_the_bound(env: Env, big: str) -> None:
    """Server B keeps its listing; A's save (another writer, for B) shows in
    B's listing within listing_max_age, and B walks again at most once per bound."""
    assert len(env.b.names(big)) == BIG
    env.a.api.save_text(f"{big}/from-a.txt", "a").expect(201)
    saved = time.monotonic()
    while "from-a.txt" not in env.b.names(big):
        assert time.monotonic() - saved < MAX_AGE + 10, "not shown within the bound"
        time.sleep(0.25)
    seen_after = time.monotonic() - saved
    assert seen_after < MAX_AGE + 10
    walks = env.b.lists(big) // 2
    # B polled every 0.25 s; its walks were bounded by the age, not by the polls.
    assert walks <= 2 + int(seen_after / 2.0)
    # And an outside tool's write (straight into S3) likewise.
    env.raw.put(env.bucket, f"{big}/from-a-pipeline.txt", b"p")
    start = time.monotonic()
    while "from-a-pipeline.txt" not in env.a.names(big):
        assert time.monotonic() - start < MAX_AGE + 10, "not shown within the bound"
        time.sleep(0.25)


def test_a_small_folder_is_always_listed_afresh(env: Env) -> None:
    folder = f"small-{uuid.uuid4().hex[:8]}"
    env.seed(folder, 5)
    assert len(env.a.names(folder)) == 5
    env.raw.put(env.bucket, f"{folder}/outside.txt", b"o")
    assert "outside.txt" in env.a.names(folder)  # at once: no kept listing


def test_the_cap_drops_the_folder_listed_least_recently(env: Env) -> None:
    """listing_cache_entries = 3000: two big folders fit, a third evicts the first."""
    folders = [f"cap{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    for folder in folders:
        env.seed(folder, BIG)
    env.c.proxy.clear()
    for folder in folders:
        env.c.names(folder)
    assert [env.c.lists(f) for f in folders] == [2, 2, 2]
    env.c.names(folders[2])
    env.c.names(folders[1])
    env.c.names(folders[0])  # evicted by the third: walked again
    assert [env.c.lists(f) for f in folders] == [4, 2, 2]
