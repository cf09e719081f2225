"""Fixtures that several e2e modules share: test_renames.py and the module each
set-up comes from. Their classes and helpers are in server_setups.py,
conformance_harness.py and hostile_harness.py.

The fixtures that start servers for many tests are session fixtures, so that a
pytest-xdist worker starts each one once, whichever modules use it (a module
fixture would start again for every module). The servers of
``js3_jupyter_session_factory`` already lived until the end of the session; the
two of ``sides`` now do too.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyters3_testing import FaultProxy, JupyterServer, MotoServer, RawS3
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.rest import ContentsClient

# --import-mode=importlib and no __init__.py: let the tests `import server_setups`...
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

import conformance_harness
import hostile_harness
from server_setups import (
    LAKE_PREFIX,
    SIZE,
    TEAM_PREFIX,
    Bucket,
    Buckets,
    Live,
    MiB,
    Pair,
    make_bucket,
    mount_bucket_name,
)

# -- Conformance: the reference and JupyterS3 (test_conformance.py) ---------------------------


@pytest.fixture(scope="session")
def sides(
    js3_moto_server: MotoServer, js3_region: str, js3_jupyter_env: dict[str, str | None]
) -> Iterator[tuple[conformance_harness.Side, conformance_harness.Side]]:
    """The reference and JupyterS3 servers (started concurrently, one of each per session)."""
    with conformance_harness.reference_and_jupyters3(
        js3_moto_server, js3_region, js3_jupyter_env
    ) as both:
        yield both


@pytest.fixture
def c(
    sides: tuple[conformance_harness.Side, conformance_harness.Side],
) -> conformance_harness.Conformance:
    """A fresh folder, created through the API on both servers."""
    ref, s3 = sides
    conf = conformance_harness.Conformance(ref, s3, f"case-{uuid.uuid4().hex[:12]}")
    conf.expect("set-up: the scenario folder", 201, "mkdir", conf.base)
    return conf


# -- Hostile input: a server per mode, jailed under a prefix (test_hostile.py) ----------------


@pytest.fixture(scope="session", params=list(hostile_harness.MODES))
def hostile_server(
    request: pytest.FixtureRequest,
    js3_jupyter_session_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_fault_proxy_server: FaultProxy,
    js3_region: str,
) -> Iterator[hostile_harness.Live]:
    """One server per mode for the session, talking to moto through the proxy."""
    with hostile_harness.open_hostile_server(
        request.param,
        js3_jupyter_session_factory,
        js3_moto_server,
        js3_fault_proxy_server,
        js3_region,
    ) as live:
        yield live


@pytest.fixture
def ws(hostile_server: hostile_harness.Live) -> Iterator[hostile_harness.Workspace]:
    with hostile_harness.workspace(hostile_server) as w:
        yield w


# -- One server through the (transparent) proxy (test_live.py) ---------------------------------


@pytest.fixture(scope="session")
def live_server(
    js3_jupyter_session_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_fault_proxy_server: FaultProxy,
    js3_region: str,
) -> Live:
    """One server for the session, talking to moto through the (transparent) proxy."""
    bucket = f"e2e-{uuid.uuid4().hex[:12]}"
    js3_moto_server.create_bucket(bucket, js3_region)
    config = jupyters3_config(
        bucket=bucket, endpoint_url=js3_fault_proxy_server.endpoint_url, region=js3_region
    )
    server = js3_jupyter_session_factory(config=config)
    raw = RawS3(js3_moto_server.endpoint_url, js3_region)
    return Live(
        server, ContentsClient(server.url, server.token), bucket, raw, js3_fault_proxy_server
    )


@pytest.fixture
def s3(live_server: Live) -> Live:
    """``live_server``, its proxy reset (test_concurrent_writers.py has an ``s3`` of its own)."""
    live_server.proxy.reset()
    return live_server


# -- Two servers on one bucket, A through the fault proxy (test_concurrent_writers.py) ---------


@pytest.fixture(scope="session")
def pair(
    js3_jupyter_session_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_fault_proxy_server: FaultProxy,
    js3_region: str,
) -> Pair:
    bucket = f"cw-{uuid.uuid4().hex[:12]}"
    js3_moto_server.create_bucket(bucket, js3_region)
    # Retries with short pauses, so an outage of a few hundred ms is ridden out.
    tuning = {"max_attempts": 3}
    via_proxy = jupyters3_config(
        bucket=bucket, endpoint_url=js3_fault_proxy_server.endpoint_url, region=js3_region
    )
    via_proxy["JupyterS3"].update(tuning)
    direct = jupyters3_config(
        bucket=bucket, endpoint_url=js3_moto_server.endpoint_url, region=js3_region
    )
    a = js3_jupyter_session_factory(config=via_proxy)
    b = js3_jupyter_session_factory(config=direct)
    return Pair(
        ContentsClient(a.url, a.token),
        ContentsClient(b.url, b.token),
        RawS3(js3_moto_server.endpoint_url, js3_region),
        bucket,
        js3_fault_proxy_server,
    )


@pytest.fixture
def fresh_pair(pair: Pair) -> Pair:
    """``pair``, its proxy reset."""
    pair.proxy.reset()
    return pair


# -- Mounts: the main bucket, a writable team mount, a read-only lake (test_mounts.py) ---------


@pytest.fixture(scope="session")
def buckets(
    js3_jupyter_session_factory: JupyterFactory, js3_moto_server: MotoServer, js3_region: str
) -> Buckets:
    main, team, lake = (mount_bucket_name(kind) for kind in ("main", "team", "lake"))
    for bucket in (main, team, lake):
        js3_moto_server.create_bucket(bucket, js3_region)
    raw = RawS3(js3_moto_server.endpoint_url, js3_region)
    raw.put(lake, LAKE_PREFIX + "readme.txt", b"the lake's readme\n")
    raw.put(lake, LAKE_PREFIX + "tables/t1.csv", b"a,b\n1,2\n")
    raw.put(main, "secret.txt", b"main's top level\n")
    raw.put(team, "outside.txt", b"outside the team prefix\n")
    config = jupyters3_config(
        bucket=main, endpoint_url=js3_moto_server.endpoint_url, region=js3_region
    )
    config["JupyterS3"]["mounts"] = {
        "team": f"s3://{team}/{TEAM_PREFIX}",
        "lake": {"url": f"s3://{lake}/{LAKE_PREFIX}", "read_only": True},
    }
    config["JupyterS3"].update(multipart_threshold=6 * MiB, multipart_part_size=5 * MiB)
    server = js3_jupyter_session_factory(config=config)
    return Buckets(ContentsClient(server.url, server.token), raw, main, team, lake, server)


# -- A versioned and an unversioned bucket (test_versioned_checkpoints.py) ---------------------


@pytest.fixture(scope="session", params=["versioned", "unversioned"])
def bucket(
    request: pytest.FixtureRequest,
    js3_jupyter_session_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_region: str,
) -> Bucket:
    return make_bucket(
        js3_jupyter_session_factory,
        js3_moto_server,
        js3_region,
        versioned=request.param == "versioned",
    )


# -- A server to kill, one per test (test_crash.py) ---------------------------------------------


@pytest.fixture
def crashable(
    js3_jupyter_factory: JupyterFactory,
    js3_moto_server: MotoServer,
    js3_fault_proxy: FaultProxy,
    js3_region: str,
) -> Iterator[tuple[JupyterServer, str, RawS3]]:
    bucket = f"crash-{uuid.uuid4().hex[:12]}"
    js3_moto_server.create_bucket(bucket, js3_region)
    config = jupyters3_config(
        bucket=bucket, endpoint_url=js3_fault_proxy.endpoint_url, region=js3_region
    )
    config["JupyterS3"].update(
        {
            "multipart_threshold": 6 * MiB,
            "multipart_part_size": 5 * MiB,
            "max_concurrency": 2,  # a folder rename takes long enough to be cut
            "abandoned_upload_age": 0,  # a restart aborts every upload left behind
        }
    )
    server = js3_jupyter_factory(config=config)
    yield server, bucket, RawS3(js3_moto_server.endpoint_url, js3_region)


# -- Copies part by part over a lowered threshold, one server per test (test_large_copies.py) --


@pytest.fixture
def part_copy_api(
    js3_jupyter_factory: JupyterFactory,
    js3_fault_proxy: FaultProxy,
    js3_bucket: str,
    js3_region: str,
    js3_raw: RawS3,
) -> ContentsClient:
    """A server whose copies over 5 MiB go part by part (UploadPartCopy)."""
    config = jupyters3_config(
        bucket=js3_bucket, endpoint_url=js3_fault_proxy.endpoint_url, region=js3_region
    )
    config["JupyterS3"].update(copy_threshold=5 * MiB, copy_part_size=5 * MiB)
    server = js3_jupyter_factory(config=config)
    return ContentsClient(server.url, server.token)


@pytest.fixture
def big(js3_raw: RawS3, js3_bucket: str) -> bytes:
    """``d/big.bin`` in ``js3_bucket``: random bytes over the part-copy threshold."""
    data = os.urandom(SIZE)
    js3_raw.put(js3_bucket, "d/big.bin", data)
    return data
