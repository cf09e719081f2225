"""The credentials service over HTTP, against a stand-in hub API (a real HTTP server on
127.0.0.1 answering /hub/api/user per token, as JupyterHub does) and the fake STS."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
import logging
import socket
import threading

import pytest
from jupyterhub.services.auth import HubAuth
from jupyters3_hub.service import UserCredentials, make_app, mask
from jupyters3_hub.settings import HubSettings
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from jupyters3.credentials import AwsCreds
from jupyters3.credentials.http import TornadoFetcher
from jupyters3_testing.iam import AuthRequest, evaluate
from jupyters3_testing.sts import FakeSTS, StsError

ROLE = "arn:aws:iam::123456789012:role/jupyterhub-users"
HUB_KEY, HUB_SECRET = "AKIAHUBIDENTITY00001", "hub-secret-0123456789"
SCOPE = "access:services!service=jupyters3-credentials"
PREFIX = "/services/jupyters3-credentials/"
TOKENS = {
    "alice-server": {
        "kind": "user",
        "name": "alice",
        "scopes": [SCOPE, "access:servers!server=alice/"],
    },
    "slash-server": {"kind": "user", "name": "team/alice", "scopes": [SCOPE]},
    "alice-no-scope": {"kind": "user", "name": "alice", "scopes": ["access:servers!server=alice/"]},
    "a-service": {"kind": "service", "name": "other", "scopes": [SCOPE]},
}


class FakeHubUser(RequestHandler):
    def get(self) -> None:
        token = self.request.headers.get("Authorization", "").removeprefix("token ")
        if token not in TOKENS:
            self.set_status(403)
            self.finish({"status": 403, "message": "not a token"})
            return
        self.finish(TOKENS[token])


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class World:
    """The fake hub API and the service, served on one loop in a thread."""

    def __init__(self, sts: FakeSTS, settings: HubSettings) -> None:
        self.sts, self.settings, self.clock = sts, settings, Clock()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        hub_socks = bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
        self.service_socks = bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
        self.port = self.service_socks[0].getsockname()[1]
        hub_port = hub_socks[0].getsockname()[1]

        async def source() -> AwsCreds:
            return AwsCreds(HUB_KEY, HUB_SECRET, {})

        async def start() -> None:
            hub = HTTPServer(Application([(r"/hub/api/user", FakeHubUser)]))
            hub.add_sockets(hub_socks)
            auth = HubAuth(
                api_url=f"http://127.0.0.1:{hub_port}/hub/api",
                api_token="service-token",
                access_scopes={SCOPE},
                cache_max_age=0,
            )
            self.users = UserCredentials(
                settings,
                source,
                sts_url=sts.endpoint_url,
                fetcher=TornadoFetcher(),
                clock=self.clock,
            )
            service = HTTPServer(make_app(settings, auth, self.users, PREFIX))
            service.add_sockets(self.service_socks)
            self.servers = [hub, service]

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def get(self, token: str | None, path: str = "credentials") -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = {"Authorization": f"token {token}"} if token is not None else {}
            conn.request("GET", PREFIX + path, headers=headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()

    def close(self) -> None:
        async def stop() -> None:
            for server in self.servers:
                server.stop()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def sts():
    with FakeSTS({ROLE: None}, trusted_key_ids={HUB_KEY}) as server:
        yield server


def world_of(sts: FakeSTS, **extra) -> World:
    settings = HubSettings(
        role_arn=ROLE, bucket="hub-notebooks", mounts={"team": "s3://team-ml/projects/"}, **extra
    )
    return World(sts, settings)


def test_a_users_server_gets_credentials_scoped_to_that_user(sts, caplog):
    world = world_of(sts)
    try:
        with caplog.at_level(logging.DEBUG):
            status, body = world.get("alice-server")
            assert status == 200 and body["Code"] == "Success" and body["RoleArn"] == ROLE
            session = sts.session(body["AccessKeyId"])
            assert session is not None and session.caller == HUB_KEY
            assert session.session_name == "jupyters3-alice" and session.source_identity == "alice"
            assert session.tags == (("jupyters3-user", "alice"),)
            assert session.duration_seconds == 3600
            assert body["SecretAccessKey"] == session.secret_access_key
            assert body["Token"] == session.session_token
            policy = json.loads(session.policy or "")
            own = AuthRequest("s3:PutObject", "arn:aws:s3:::hub-notebooks/users/alice/a")
            other = AuthRequest("s3:PutObject", "arn:aws:s3:::hub-notebooks/users/bob/a")
            assert (
                evaluate([policy], own) == "Allow" and evaluate([policy], other) == "ImplicitDeny"
            )
            # Cached: the same key again, no second AssumeRole.
            assert world.get("alice-server")[1]["AccessKeyId"] == body["AccessKeyId"]
            assert len(sts.calls()) == 1
            # Once it lasts less than reuse_seconds (1,800 by default), a fresh one.
            world.clock.now += 3600 - 1799
            assert world.get("alice-server")[1]["AccessKeyId"] != body["AccessKeyId"]
            assert len(sts.calls()) == 2
        log = caplog.text
        assert (
            "credentials for user 'alice' (session jupyters3-alice, "
            f"key {mask(body['AccessKeyId'])})" in log
        )
        for secret in [
            HUB_SECRET,
            *(s.secret_access_key for s in sts.sessions()),
            *(s.session_token for s in sts.sessions()),
        ]:
            assert secret not in log
    finally:
        world.close()


def test_concurrent_requests_of_one_user_make_one_assume_role(sts):
    world = world_of(sts)
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: world.get("alice-server"), range(8)))
        assert {status for status, _ in answers} == {200}
        assert len({body["AccessKeyId"] for _, body in answers}) == 1
        assert len(sts.calls()) == 1
    finally:
        world.close()


def test_tokens_that_are_not_a_users_with_the_scope_are_refused(sts):
    world = world_of(sts)
    try:
        assert world.get(None)[0] == 401
        assert world.get("nobody")[0] == 401
        status, body = world.get("alice-no-scope")
        assert status == 403 and SCOPE in body["message"]
        assert world.get("a-service")[0] == 403
        assert world.get(None, path="")[1] == {"service": "jupyters3-hub", "mode": "session-policy"}
        assert sts.calls() == []
    finally:
        world.close()


def test_abac_refuses_a_user_it_could_not_confine_and_sts_errors_are_a_sentence(sts):
    world = world_of(sts, mode="abac")
    try:
        status, body = world.get("slash-server")
        assert status == 403 and "cannot be a session tag value" in body["message"]
        status, body = world.get("alice-server")
        assert status == 200
        session = sts.session(body["AccessKeyId"])
        assert session.policy is None and session.tags == (("jupyters3-user", "alice"),)
        world.clock.now += 3600
        sts.fail_next(StsError(403, "AccessDenied", "not authorized to perform: sts:TagSession"))
        status, body = world.get("alice-server")
        assert status == 502 and "sts:TagSession" in body["message"] and "alice" in body["message"]
    finally:
        sts.fail_next(None)
        world.close()
