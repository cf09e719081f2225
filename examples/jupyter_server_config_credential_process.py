# JupyterS3 with credentials printed by a command (the AWS CLI's credential_process format).
#
# Use it for any source the AWS CLI or another tool can turn into temporary
# credentials: IAM Identity Center (SSO), `aws login`, a profile that assumes a
# role, aws-vault, a corporate token broker. The default command,
#   aws configure export-credentials --format process
# prints the credentials of the CLI's current profile (AWS_PROFILE) as JSON:
#   {"Version": 1, "AccessKeyId": ..., "SecretAccessKey": ...,
#    "SessionToken": ..., "Expiration": "2030-01-01T00:00:00Z"}
#
# It is also the template for a custom class that gets caching for free: a
# subclass of JupyterS3RefreshingAuthentication implements fetch_credentials()
# and returns TimedCreds(AwsCreds(...), expiration); the base class caches them
# and calls it again before they expire (in the background 15 minutes before,
# with requests waiting from 10 minutes before), one call at a time.
#
# Run it:
#   aws sso login --profile notebooks        # or however the CLI gets its credentials
#   export JUPYTERS3_BUCKET=my-notebooks AWS_REGION=eu-west-1 AWS_PROFILE=notebooks
#   jupyter lab --config examples/jupyter_server_config_credential_process.py
#
# Environment:
#   JUPYTERS3_BUCKET               the bucket (it must exist)
#   JUPYTERS3_PREFIX               optional key prefix ('' = whole bucket)
#   AWS_REGION                     the bucket's region (default us-east-1)
#   JUPYTERS3_CREDENTIAL_PROCESS   optional: the command (split like a shell would, not run by one)
#   AWS_PROFILE                    read by the default command

import asyncio
import json
import os
import shlex

from traitlets import Float, Unicode

from jupyters3 import AwsCreds
from jupyters3.auth import JupyterS3RefreshingAuthentication
from jupyters3.credentials import TimedCreds
from jupyters3.credentials.timestamps import parse_timestamp
from jupyters3.errors import BadConfiguration

c = get_config()


class CredentialProcessAuthentication(JupyterS3RefreshingAuthentication):
    """Credentials from a command's output, refreshed before they expire."""

    command = Unicode(
        "aws configure export-credentials --format process",
        config=True,
        help="The command that prints the credentials as credential_process JSON.",
    )
    command_timeout = Float(60.0, config=True, help="Seconds the command may take.")

    async def fetch_credentials(self):
        argv = shlex.split(self.command)
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), self.command_timeout)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
            raise BadConfiguration(
                f"{argv[0]} gave no credentials within {self.command_timeout:g} s."
            ) from None
        if process.returncode != 0:
            detail = err.decode("utf-8", "replace").strip()[-300:]
            raise BadConfiguration(f"{argv[0]} exited with code {process.returncode}: {detail}")
        data = json.loads(out)
        token = data.get("SessionToken", "")
        headers = {"x-amz-security-token": token} if token else {}
        expiration = parse_timestamp(data["Expiration"]) if data.get("Expiration") else None
        return TimedCreds(
            AwsCreds(data["AccessKeyId"], data["SecretAccessKey"], headers), expiration
        )

    def source_name(self):
        return f"the command {shlex.split(self.command)[0]!r}"


c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
c.JupyterS3.aws_s3_bucket = os.environ.get("JUPYTERS3_BUCKET", "")
c.JupyterS3.prefix = os.environ.get("JUPYTERS3_PREFIX", "")

c.JupyterS3.authentication_class = CredentialProcessAuthentication
c.CredentialProcessAuthentication.command = os.environ.get(
    "JUPYTERS3_CREDENTIAL_PROCESS", "aws configure export-credentials --format process"
)
c.CredentialProcessAuthentication.command_timeout = 60.0
