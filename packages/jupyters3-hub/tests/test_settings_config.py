"""HubSettings (what STS is asked for, per user) and configure() (jupyterhub_config.py)."""

from __future__ import annotations

import json

import pytest
from jupyters3_hub import HubSettings, UserRefused, configure
from traitlets.config import Config

from jupyters3.policy import BadPolicyInput
from jupyters3_testing.iam import AuthRequest, evaluate

ROLE = "arn:aws:iam::123456789012:role/jupyterhub-users"
MOUNTS = {
    "team": "s3://team-ml/projects/",
    "lake": {"url": "s3://lake/curated/", "read_only": True},
}


def settings(**extra) -> HubSettings:
    return HubSettings(role_arn=ROLE, bucket="hub-notebooks", mounts=MOUNTS, **extra)


def allows(policy: str, action: str, resource: str, **context: str) -> bool:
    request = AuthRequest(action, f"arn:aws:s3:::{resource}", context)
    return evaluate([json.loads(policy)], request) == "Allow"


def test_a_users_request_carries_their_policy_tag_and_source_identity():
    request = settings().request_for("alice")
    assert request.role_arn == ROLE and request.session_name == "jupyters3-alice"
    assert request.tags == (("jupyters3-user", "alice"),)
    assert request.transitive_tag_keys == ("jupyters3-user",)
    assert request.source_identity == "alice" and request.duration_seconds == 3600
    assert allows(request.policy, "s3:PutObject", "hub-notebooks/users/alice/a.ipynb")
    assert not allows(request.policy, "s3:PutObject", "hub-notebooks/users/bob/a.ipynb")
    assert allows(request.policy, "s3:PutObject", "team-ml/projects/x")
    assert not allows(request.policy, "s3:PutObject", "lake/curated/x")
    assert allows(request.policy, "s3:GetObject", "lake/curated/x")


def test_team_slash_alice_gets_her_own_segment_and_sanitised_labels():
    request = settings().request_for("team/alice")
    assert allows(request.policy, "s3:GetObject", "hub-notebooks/users/team%2Falice/x")
    assert not allows(request.policy, "s3:GetObject", "hub-notebooks/users/team/x")
    assert request.session_name.startswith("jupyters3-team-alice-")
    assert request.tags == (("jupyters3-user", "team/alice"),)  # a label; the policy confines


def test_abac_sends_the_segment_as_a_tag_and_no_policy():
    abac = settings(mode="abac", policy_arns=("arn:aws:iam::123456789012:policy/shared-mounts",))
    request = abac.request_for("alice@example.com")
    assert request.policy == "" and request.tags == (("jupyters3-user", "alice@example.com"),)
    assert request.policy_arns == ("arn:aws:iam::123456789012:policy/shared-mounts",)
    with pytest.raises(UserRefused, match="cannot be a session tag value"):
        abac.request_for("team/alice")  # team%2Falice: '%' is no tag character


def test_users_and_settings_that_cannot_work_are_refused():
    with pytest.raises(UserRefused):
        settings().request_for("..")
    many = {f"m{i}": f"s3://bucket-number-{i:03d}/some/long/prefix/{i}/" for i in range(12)}
    with pytest.raises(UserRefused, match="2,048"):
        HubSettings(role_arn=ROLE, bucket="hub-notebooks", mounts=many).request_for("alice")
    for bad in (
        {"role_arn": "jupyterhub-users"},
        {"mode": "both"},
        {"prefix_template": "users/"},
        {"mounts": {"x": "http://x/"}},
        {"duration_seconds": 60},
        {"reuse_seconds": 3600},
    ):
        with pytest.raises(BadPolicyInput):
            HubSettings(**{"role_arn": ROLE, "bucket": "hub-notebooks", **bad})


def test_settings_travel_as_json():
    original = settings(versioning=True, policy_arns=("arn:aws:iam::1:policy/p",))
    assert HubSettings.from_json(original.to_json()) == original
    for bad in ("", "[]", '{"bucket": "b"}', '{"role_arn": "arn:x", "bucket": "hub", "colour": 1}'):
        with pytest.raises(BadPolicyInput):
            HubSettings.from_json(bad)


def test_configure_registers_the_service_scopes_roles_and_environment():
    c = Config()
    c.JupyterHub.load_roles = [{"name": "user", "scopes": ["self", "read:groups"]}]
    c.Spawner.environment = {"KEEP": "me"}
    env = {
        "AWS_ROLE_ARN": "arn:aws:iam::1:role/hub",
        "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token",
        "AWS_REGION": "eu-west-1",
        "AWS_SECRET_ACCESS_KEY": "hub-secret",
        "AWS_SESSION_TOKEN": "hub-token",
        "HOME": "/root",
    }
    found = configure(c, role_arn=ROLE, bucket="hub-notebooks", mounts=MOUNTS, environ=env)
    assert found.region == "eu-west-1"
    (service,) = c.JupyterHub.services
    assert service["name"] == "jupyters3-credentials" and service["url"] == "http://127.0.0.1:8282"
    assert service["command"][1:] == ["-m", "jupyters3_hub.service"]
    environment = service["environment"]
    assert environment["AWS_ROLE_ARN"] == "arn:aws:iam::1:role/hub"
    assert "AWS_SECRET_ACCESS_KEY" not in environment and "AWS_SESSION_TOKEN" not in environment
    assert "HOME" not in environment
    assert HubSettings.from_json(environment["JUPYTERS3_HUB_SETTINGS"]) == found
    scope = "access:services!service=jupyters3-credentials"
    assert c.Spawner.server_token_scopes == ["access:servers!server", "users:activity!user", scope]
    assert c.JupyterHub.load_roles == [{"name": "user", "scopes": ["self", "read:groups", scope]}]
    spawner_env = c.Spawner.environment
    assert spawner_env["KEEP"] == "me"
    assert spawner_env["JUPYTERS3_HUB_CREDENTIALS_URL"] == (
        "http://127.0.0.1:8282/services/jupyters3-credentials/credentials"
    )
    assert spawner_env["JUPYTERS3_BUCKET"] == "hub-notebooks"
    assert json.loads(spawner_env["JUPYTERS3_MOUNTS"]) == MOUNTS

    class Spawner:
        class user:
            name = "team/alice"

    assert spawner_env["JUPYTERS3_PREFIX"](Spawner) == "users/team%2Falice/"


def test_configure_twice_replaces_the_service_and_keeps_other_scopes():
    c = Config()
    c.Spawner.server_token_scopes = [
        "access:servers!server",
        "users:activity!user",
        "read:users:name!user",
    ]
    configure(c, role_arn=ROLE, bucket="hub-notebooks", environ={})
    configure(
        c,
        role_arn=ROLE,
        bucket="hub-notebooks",
        port=9000,
        internal_url="http://hub:9000",
        environ={},
    )
    assert [s["url"] for s in c.JupyterHub.services] == ["http://127.0.0.1:9000"]
    assert c.Spawner.server_token_scopes.count("access:services!service=jupyters3-credentials") == 1
    assert "read:users:name!user" in c.Spawner.server_token_scopes
    environment = c.Spawner.environment.get_value({})  # a LazyConfigValue: as JupyterHub applies it
    assert environment["JUPYTERS3_HUB_CREDENTIALS_URL"].startswith("http://hub:9000/services/")
    assert c.JupyterHub.load_roles == [
        {"name": "user", "scopes": ["self", "access:services!service=jupyters3-credentials"]}
    ]
