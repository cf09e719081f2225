"""``configure(c, ...)``: one call in ``jupyterhub_config.py`` sets everything up.

::

    import jupyters3_hub

    jupyters3_hub.configure(
        c,
        role_arn="arn:aws:iam::123456789012:role/jupyterhub-users",
        bucket="hub-notebooks",
        mounts={"team": "s3://team-ml/projects/", "lake": "s3://lake/curated/:ro"},
    )

It registers the managed service (``c.JupyterHub.services``: its command,
URL and environment: the settings as JSON and the hub's own non-secret
``AWS_*`` variables, so the service finds the hub's identity: IRSA, Pod
Identity, a profile), adds ``access:services!service=<name>`` to every
server's token (``c.Spawner.server_token_scopes``) and to the ``user`` role
(``c.JupyterHub.load_roles``: a token may only hold what its owner holds),
and sets the spawner's environment: where the service answers
(``JUPYTERS3_HUB_CREDENTIALS_URL``), the bucket, each user's prefix and the
mounts (``JUPYTERS3_BUCKET``, ``JUPYTERS3_PREFIX``, ``JUPYTERS3_MOUNTS``),
which :func:`jupyters3.hub.single_user_config` reads in the single-user
server. It returns the :class:`~jupyters3_hub.settings.HubSettings`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from jupyters3_hub.settings import SETTINGS_ENV, HubSettings

__all__ = ["DEFAULT_SERVICE_NAME", "configure", "service_environment"]

DEFAULT_SERVICE_NAME = "jupyters3-credentials"

#: Hub variables never copied into the service's configuration (traitlets logs the
#: whole configuration under --debug): give the hub these through a file instead.
_SECRET_VARIABLES = frozenset(
    {
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    }
)
_DEFAULT_SERVER_SCOPES = ["access:servers!server", "users:activity!user"]


def service_environment(settings: HubSettings, environ: Mapping[str, str]) -> dict[str, str]:
    """The service's environment: the settings, and the hub's non-secret ``AWS_*`` variables."""
    found = {
        key: value
        for key, value in environ.items()
        if key.startswith("AWS_") and key not in _SECRET_VARIABLES
    }
    found[SETTINGS_ENV] = settings.to_json()
    return found


def configure(
    c: Any,
    *,
    role_arn: str,
    bucket: str,
    prefix_template: str = "users/{username}/",
    mounts: Mapping[str, Any] | None = None,
    name: str = DEFAULT_SERVICE_NAME,
    port: int = 8282,
    url: str = "",
    internal_url: str = "",
    bind: str = "",
    mode: str = "session-policy",
    policy_arns: Iterable[str] = (),
    duration_seconds: int = 3600,
    reuse_seconds: float = 1800.0,
    region: str = "",
    sts_endpoint_url: str = "",
    external_id: str = "",
    versioning: bool = False,
    find_abandoned_uploads: bool = False,
    service_environment_extra: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> HubSettings:
    """Register the credentials service and its scopes, and the spawner's environment.

    ``url`` is where the service listens and the hub reaches it (default
    ``http://127.0.0.1:<port>``); ``internal_url`` is how single-user servers
    reach it (default: ``url``; on Kubernetes the hub's service name, e.g.
    ``http://hub:8282``), ``bind`` an optional ``host:port`` to listen on
    (``0.0.0.0:8282`` in a hub pod). The other arguments are those of
    :class:`~jupyters3_hub.settings.HubSettings`.
    """
    environ = os.environ if environ is None else environ
    settings = HubSettings(
        role_arn=role_arn,
        bucket=bucket,
        prefix_template=prefix_template,
        mounts=dict(mounts or {}),
        mode=mode,  # type: ignore[arg-type]  # HubSettings checks it
        policy_arns=tuple(policy_arns),
        duration_seconds=duration_seconds,
        region=region or environ.get("AWS_REGION", "") or environ.get("AWS_DEFAULT_REGION", ""),
        sts_endpoint_url=sts_endpoint_url,
        external_id=external_id,
        versioning=versioning,
        find_abandoned_uploads=find_abandoned_uploads,
        reuse_seconds=reuse_seconds,
    )
    url = (url or f"http://127.0.0.1:{port}").rstrip("/")
    service_env = service_environment(settings, environ)
    if bind:
        service_env["JUPYTERS3_HUB_BIND"] = bind
    service_env.update(service_environment_extra or {})
    services = list(c.JupyterHub.services) if "services" in c.JupyterHub else []
    services = [s for s in services if s.get("name") != name]
    services.append(
        {
            "name": name,
            "url": url,
            "command": [sys.executable, "-m", "jupyters3_hub.service"],
            "environment": service_env,
            "display": False,
        }
    )
    c.JupyterHub.services = services

    scope = f"access:services!service={name}"
    scopes = list(c.Spawner.server_token_scopes) if "server_token_scopes" in c.Spawner else []
    if callable(scopes):  # pragma: no cover - a callable is the admin's own
        raise ValueError("c.Spawner.server_token_scopes is a callable: add the scope there")
    c.Spawner.server_token_scopes = list(
        dict.fromkeys([*(scopes or _DEFAULT_SERVER_SCOPES), scope])
    )
    roles = [dict(r) for r in c.JupyterHub.load_roles] if "load_roles" in c.JupyterHub else []
    user_role = next((r for r in roles if r.get("name") == "user"), None)
    if user_role is None:
        roles.append({"name": "user", "scopes": ["self", scope]})
    else:
        user_role["scopes"] = list(dict.fromkeys([*user_role.get("scopes", ["self"]), scope]))
    c.JupyterHub.load_roles = roles

    prefix = f"/services/{name}/"
    spawner_env = {
        "JUPYTERS3_HUB_CREDENTIALS_URL": f"{(internal_url or url).rstrip('/')}{prefix}credentials",
        "JUPYTERS3_BUCKET": bucket,
        "JUPYTERS3_PREFIX": _PrefixOf(settings),  # JupyterHub calls it with the spawner
        "JUPYTERS3_MOUNTS": json.dumps(dict(settings.mounts)),
    }
    if settings.region:
        spawner_env.setdefault("AWS_REGION", settings.region)
    c.Spawner.environment.update(spawner_env)
    return settings


class _PrefixOf:
    """``Spawner.environment`` value: the spawner's user's prefix (JupyterHub calls it)."""

    def __init__(self, settings: HubSettings) -> None:
        self.settings = settings

    def __call__(self, spawner: Any) -> str:
        return self.settings.prefix_for(spawner.user.name)

    def __repr__(self) -> str:
        return f"<the prefix of each user: {self.settings.prefix_template}>"
