# JupyterS3 with static AWS keys that this server alone uses.
#
# Use it when you have an IAM user's access key for the bucket and want this
# Jupyter server to sign with that key, whatever else the machine has set up
# (AWS_* variables, ~/.aws profiles, instance roles are all ignored).
#
# Run it:
#   export JUPYTERS3_BUCKET=my-notebooks AWS_REGION=eu-west-1
#   export JUPYTERS3_AWS_ACCESS_KEY_ID=AKIA... JUPYTERS3_AWS_SECRET_ACCESS_KEY=...
#   jupyter lab --config examples/jupyter_server_config_aws_keys.py
#
# Environment:
#   JUPYTERS3_BUCKET                  the bucket (it must exist)
#   JUPYTERS3_PREFIX                  optional key prefix, e.g. users/alice/ ('' = whole bucket)
#   AWS_REGION                        the bucket's region (default us-east-1)
#   JUPYTERS3_AWS_ACCESS_KEY_ID       the access key id
#   JUPYTERS3_AWS_SECRET_ACCESS_KEY   its secret
#   JUPYTERS3_AWS_SESSION_TOKEN       optional, for temporary keys
#
# Never write a secret into this file, and never put one into Jupyter's
# configuration either (c.<Class>.<setting> = ...): `jupyter lab --debug` logs
# every configuration change, values included. So the keys are not settings
# here: the small class below reads them from the environment when S3 needs
# them.

import os
from collections.abc import Mapping

from jupyters3 import JupyterS3SecretAccessKeyAuthentication


class ServerKeys(JupyterS3SecretAccessKeyAuthentication):
    """This server's own keys, from the JUPYTERS3_AWS_* variables (the machine's
    AWS_* variables, profiles and instance roles are ignored)."""

    @property
    def environ(self) -> Mapping[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": os.environ.get("JUPYTERS3_AWS_ACCESS_KEY_ID", ""),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("JUPYTERS3_AWS_SECRET_ACCESS_KEY", ""),
            "AWS_SESSION_TOKEN": os.environ.get("JUPYTERS3_AWS_SESSION_TOKEN", ""),
        }


c = get_config()

c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
c.JupyterS3.aws_s3_bucket = os.environ.get("JUPYTERS3_BUCKET", "")
c.JupyterS3.prefix = os.environ.get("JUPYTERS3_PREFIX", "")
c.JupyterS3.authentication_class = ServerKeys
