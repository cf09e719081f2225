"""What the credentials service asks STS for, per user (pure).

:class:`HubSettings` holds the hub's choices (the role, the bucket, the
prefix template, the shared mounts, the mode); :meth:`HubSettings.request_for`
turns one JupyterHub user name into the ``AssumeRole`` request of that user:

* ``session-policy`` (the default): the inline session policy of
  :func:`jupyters3.policy.session_policy` for the user's prefix and the mounts
  (plus ``policy_arns``), checked against STS's 2,048 characters;
* ``abac``: no inline policy; the session tag ``tag_key`` carries the user's
  key segment and the role's own policy (:func:`jupyters3.policy.abac_role_policy`,
  ``jupyters3 policy --abac``) confines the session. A user whose key segment
  is not a valid tag value (``team/alice`` is ``team%2Falice``) is refused:
  it could not be confined.

The session name and source identity are the user name made acceptable to
STS (:func:`jupyters3.credentials.assume_role.session_name`): labels for
CloudTrail, never what grants access.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from jupyters3.credentials.assume_role import RoleRequest, is_tag_value, session_name, tag_value
from jupyters3.policy import (
    ABAC_TAG_KEY,
    BadPolicyInput,
    Grant,
    check_template,
    minify,
    parse_grant,
    session_policy,
    size_problem,
    user_prefix,
    user_segment,
)

__all__ = ["SETTINGS_ENV", "HubSettings", "UserRefused"]

#: The service reads its settings (JSON) from this variable.
SETTINGS_ENV = "JUPYTERS3_HUB_SETTINGS"

Mode = Literal["session-policy", "abac"]


class UserRefused(Exception):
    """No credentials can be made for this user (one sentence, safe to show the user)."""


@dataclass(frozen=True)
class HubSettings:
    """The credentials service's settings.

    ``mounts`` maps a mount name to ``"s3://bucket/prefix/"`` (``":ro"`` at
    the end, or a dict with ``url`` and ``read_only``), as the single-user
    servers' ``c.JupyterS3.mounts`` name them. ``reuse_seconds``: a user's
    cached credentials are handed out again while they last at least this
    long (it must be shorter than the session; the servers refresh 15 minutes
    before expiry, so keep it longer than that).
    """

    role_arn: str
    bucket: str
    prefix_template: str = "users/{username}/"
    mounts: Mapping[str, Any] = field(default_factory=dict)
    mode: Mode = "session-policy"
    tag_key: str = ABAC_TAG_KEY
    policy_arns: tuple[str, ...] = ()
    duration_seconds: int = 3600
    region: str = ""
    sts_endpoint_url: str = ""
    external_id: str = ""
    versioning: bool = False
    find_abandoned_uploads: bool = False
    tag_sessions: bool = True
    set_source_identity: bool = True
    reuse_seconds: float = 1800.0
    max_cached_users: int = 10_000

    def __post_init__(self) -> None:
        if not self.role_arn.startswith("arn:"):
            raise BadPolicyInput(f"role_arn {self.role_arn!r} is not an IAM role ARN.")
        if self.mode not in ("session-policy", "abac"):
            raise BadPolicyInput("mode is 'session-policy' or 'abac'.")
        check_template(self.prefix_template)
        self.mount_grants()  # every mount parses
        if not 900 <= self.duration_seconds <= 43200:
            raise BadPolicyInput("duration_seconds is 900 to 43,200 (3,600 when role chaining).")
        if not 0 <= self.reuse_seconds < self.duration_seconds:
            raise BadPolicyInput("reuse_seconds must be shorter than duration_seconds.")
        object.__setattr__(self, "policy_arns", tuple(self.policy_arns))

    # -- (de)serialising: the hub passes the settings to the service as JSON --------

    def to_json(self) -> str:
        """The settings as JSON (no secret in them: a role ARN, names, numbers)."""
        return json.dumps(asdict(self) | {"mounts": dict(self.mounts)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> HubSettings:
        """Settings from :meth:`to_json`'s JSON (:class:`BadPolicyInput` if invalid)."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BadPolicyInput(f"The settings are not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BadPolicyInput("The settings are a JSON object.")
        try:
            return cls(**data)
        except TypeError as exc:
            raise BadPolicyInput(f"Unknown or missing settings: {exc}") from None

    # -- per user ---------------------------------------------------------------------

    def mount_grants(self) -> list[tuple[str, Grant]]:
        """``(name, Grant)`` of each mount."""
        found = []
        for name, spec in self.mounts.items():
            if isinstance(spec, Mapping):
                url, read_only = str(spec.get("url", "")), bool(spec.get("read_only", False))
                _, grant = parse_grant(f"{name}={url}")
                grant = Grant(grant.bucket, grant.prefix, read_only or grant.read_only)
            else:
                _, grant = parse_grant(f"{name}={spec}")
            found.append((name, grant))
        return found

    def prefix_for(self, user: str) -> str:
        """The user's prefix in the main bucket."""
        try:
            return user_prefix(self.prefix_template, user)
        except BadPolicyInput as exc:
            raise UserRefused(str(exc)) from None

    def policy_for(self, user: str) -> str:
        """The minified session policy of ``user`` ('' in ABAC mode)."""
        if self.mode == "abac":
            return ""
        grants = [Grant(self.bucket, self.prefix_for(user)), *(g for _, g in self.mount_grants())]
        text = minify(
            session_policy(
                grants,
                versioning=self.versioning,
                find_abandoned_uploads=self.find_abandoned_uploads,
            )
        )
        problem = size_problem(text)
        if problem:
            raise UserRefused(problem)
        return text

    def request_for(self, user: str) -> RoleRequest:
        """The ``AssumeRole`` request that scopes a session to ``user``."""
        policy = self.policy_for(user)
        tags: tuple[tuple[str, str], ...] = ()
        if self.mode == "abac":
            segment = user_segment(user)
            if not is_tag_value(segment):
                raise UserRefused(
                    f"The user name {user!r} (key segment {segment!r}) cannot be a session tag "
                    "value, so the ABAC role policy could not confine it: use the "
                    "session-policy mode, or user names of letters, digits and _.:/=+-@."
                )
            tags = ((self.tag_key, segment),)
        elif self.tag_sessions:
            tags = ((self.tag_key, tag_value(user)),)
        return RoleRequest(
            role_arn=self.role_arn,
            session_name=session_name(user, "jupyters3-"),
            external_id=self.external_id,
            duration_seconds=self.duration_seconds,
            policy=policy,
            policy_arns=self.policy_arns,
            tags=tags,
            transitive_tag_keys=tuple(key for key, _ in tags),
            source_identity=session_name(user) if self.set_source_identity else "",
        )
