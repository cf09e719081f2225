"""EC2 instance-role credentials (IMDSv2, falling back to IMDSv1) for jupyters3.

Installed, it adds the EC2 instance role to the end of jupyters3's default
credential chain through the ``jupyters3.credential_providers`` entry point.
"""

from jupyters3_auth_ec2._version import __version__
from jupyters3_auth_ec2.auth import JupyterS3EC2RoleAuthentication, chain_provider

__all__ = ["JupyterS3EC2RoleAuthentication", "__version__", "chain_provider"]
