# JupyterS3 with the static keys of a profile in ~/.aws/credentials (or ~/.aws/config).
#
# Use it on a laptop where `aws configure --profile notebooks` stored the keys.
# Naming the profile here makes this server use it even when AWS_ACCESS_KEY_ID
# is exported for something else (as the AWS SDKs do for a profile named in code).
# Profiles that assume a role, use IAM Identity Center (SSO) or run a
# credential_process work the same way: see jupyter_server_config_aws_assume_role.py,
# jupyter_server_config_aws_sso.py and jupyter_server_config_aws_credential_process.py.
#
# Run it:
#   aws configure --profile notebooks        # once: writes ~/.aws/credentials
#   export JUPYTERS3_BUCKET=my-notebooks JUPYTERS3_AWS_PROFILE=notebooks AWS_REGION=eu-west-1
#   jupyter lab --config examples/jupyter_server_config_aws_profile.py
#
# Environment:
#   JUPYTERS3_BUCKET              the bucket (it must exist)
#   JUPYTERS3_PREFIX              optional key prefix ('' = whole bucket)
#   AWS_REGION                    the bucket's region (default us-east-1)
#   JUPYTERS3_AWS_PROFILE         the profile (default: "default")
#   AWS_SHARED_CREDENTIALS_FILE   optional, default ~/.aws/credentials
#   AWS_CONFIG_FILE               optional, default ~/.aws/config

import os

c = get_config()

c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
c.JupyterS3.aws_s3_bucket = os.environ.get("JUPYTERS3_BUCKET", "")
c.JupyterS3.prefix = os.environ.get("JUPYTERS3_PREFIX", "")

c.JupyterS3.authentication_class = "jupyters3.JupyterS3DefaultAuthentication"
c.JupyterS3DefaultAuthentication.profile = os.environ.get("JUPYTERS3_AWS_PROFILE", "default")
