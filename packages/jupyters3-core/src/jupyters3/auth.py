"""Authentication classes: where JupyterS3 gets the AWS credentials it signs with.

``c.JupyterS3.authentication_class`` names a subclass of
:class:`JupyterS3Authentication`. JupyterS3 creates one instance (as its
child, so ``c.<ClassName>.<trait>`` configures it) and calls
``get_credentials()`` before every S3 request; the method may cache and
refresh as it likes. Example of a custom class::

    from tornado import gen
    from jupyters3 import AwsCreds, JupyterS3Authentication

    class MyAuth(JupyterS3Authentication):
        @gen.coroutine            # a plain ``async def`` works too
        def get_credentials(self):
            token = yield fetch_my_token()
            return AwsCreds(
                access_key_id=token.key,
                secret_access_key=token.secret,
                pre_auth_headers={"x-amz-security-token": token.session},
            )
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Mapping

from traitlets import Unicode, default
from traitlets.config import LoggingConfigurable

from jupyters3.credentials import AwsCreds
from jupyters3.errors import BadConfiguration

__all__ = ["JupyterS3Authentication", "JupyterS3SecretAccessKeyAuthentication"]


class JupyterS3Authentication(LoggingConfigurable):
    """The extension point: subclass it and implement :meth:`get_credentials`."""

    def get_credentials(self) -> Awaitable[AwsCreds]:
        """Return (as a coroutine or a Tornado future) the credentials to sign with.

        ``pre_auth_headers`` of the result (such as ``x-amz-security-token``)
        are sent with, and signed into, every request. Raise
        :class:`jupyters3.errors.BadConfiguration` with a sentence the user can
        act on when no credentials can be had.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement get_credentials()")


class JupyterS3SecretAccessKeyAuthentication(JupyterS3Authentication):
    """Static keys from configuration, else from the standard AWS environment variables."""

    aws_access_key_id = Unicode(
        help="The AWS access key id. Default: the AWS_ACCESS_KEY_ID environment variable."
    ).tag(config=True)
    aws_secret_access_key = Unicode(
        help="The AWS secret access key. Default: AWS_SECRET_ACCESS_KEY."
    ).tag(config=True)
    aws_session_token = Unicode(
        help="A session token for temporary credentials (optional). "
        "Default: AWS_SESSION_TOKEN, else the legacy AWS_SECURITY_TOKEN."
    ).tag(config=True)

    #: The environment the defaults are read from (tests pass a plain dict).
    environ: Mapping[str, str] = os.environ

    @default("aws_access_key_id")
    def _default_key_id(self) -> str:
        return self.environ.get("AWS_ACCESS_KEY_ID", "")

    @default("aws_secret_access_key")
    def _default_secret(self) -> str:
        return self.environ.get("AWS_SECRET_ACCESS_KEY", "")

    @default("aws_session_token")
    def _default_token(self) -> str:
        return self.environ.get("AWS_SESSION_TOKEN") or self.environ.get("AWS_SECURITY_TOKEN", "")

    async def get_credentials(self) -> AwsCreds:
        """The configured keys; :class:`BadConfiguration` when either is missing."""
        if not self.aws_access_key_id or not self.aws_secret_access_key:
            raise BadConfiguration(
                "No AWS credentials: set c.JupyterS3SecretAccessKeyAuthentication."
                "aws_access_key_id and aws_secret_access_key, or the AWS_ACCESS_KEY_ID "
                "and AWS_SECRET_ACCESS_KEY environment variables."
            )
        headers = {"x-amz-security-token": self.aws_session_token} if self.aws_session_token else {}
        return AwsCreds(self.aws_access_key_id, self.aws_secret_access_key, headers)
