"""``JupyterS3EC2RoleAuthentication`` and the default chain's EC2 entry point."""

from __future__ import annotations

from traitlets import Float, Int, Unicode

from jupyters3.auth import JupyterS3RefreshingAuthentication
from jupyters3.credentials.types import ProviderContext, TimedCreds
from jupyters3_auth_ec2.imds import ImdsProvider

__all__ = ["JupyterS3EC2RoleAuthentication", "chain_provider"]


class JupyterS3EC2RoleAuthentication(JupyterS3RefreshingAuthentication):
    """The EC2 instance role's credentials (IMDSv2, else IMDSv1), refreshed ahead of expiry.

    ``c.JupyterS3.authentication_class = "jupyters3_auth_ec2.JupyterS3EC2RoleAuthentication"``
    uses it alone; installed, it is also the last source of
    :class:`jupyters3.JupyterS3DefaultAuthentication`, with these same settings.
    """

    role_name = Unicode(
        "", help="The instance role's name. Default: the one the metadata service lists."
    ).tag(config=True)
    metadata_endpoint = Unicode(
        "",
        help="The instance metadata service. Default: AWS_EC2_METADATA_SERVICE_ENDPOINT, "
        "else http://169.254.169.254 (http://[fd00:ec2::254] with "
        "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6).",
    ).tag(config=True)
    timeout = Float(1.0, help="Seconds one metadata request may take.").tag(config=True)
    attempts = Int(2, help="Attempts per refresh, the first included.").tag(config=True)
    token_ttl_seconds = Int(21600, help="Lifetime asked for each IMDSv2 session token.").tag(
        config=True
    )

    _provider: ImdsProvider | None = None

    def make_provider(self, *, strict: bool) -> ImdsProvider:
        """An IMDS provider with this object's settings, environment, clock and fetcher."""
        return ImdsProvider(
            self.environ,
            self.fetcher,
            self.clock,
            endpoint=self.metadata_endpoint,
            role_name=self.role_name,
            timeout=self.timeout,
            attempts=self.attempts,
            token_ttl=self.token_ttl_seconds,
            strict=strict,
            log=self.log,
        )

    def source_name(self) -> str:
        """Where the credentials come from, for log lines."""
        return "the EC2 instance metadata service"

    async def fetch_credentials(self) -> TimedCreds:
        """Fresh credentials of the instance role (the IMDSv2 token is kept between calls)."""
        if self._provider is None:
            self._provider = self.make_provider(strict=True)
        found = await self._provider.load()
        assert found is not None  # strict providers raise instead
        return found


def chain_provider(context: ProviderContext) -> ImdsProvider:
    """The ``jupyters3.credential_providers`` entry point: the IMDS as the chain's last source.

    Built through a :class:`JupyterS3EC2RoleAuthentication` child of the
    chain's owner, so ``c.JupyterS3EC2RoleAuthentication.*`` applies here too.
    """
    settings = JupyterS3EC2RoleAuthentication(
        parent=context.parent,
        environ=context.environ,
        clock=context.clock,
        fetcher=context.fetcher,
        log=context.log,
    )
    return settings.make_provider(strict=False)
