# JupyterS3 with a profile that assumes an IAM role (role_arn + source_profile in ~/.aws/config).
#
# Use it on a laptop or workstation where the AWS CLI reaches the bucket's
# account through a role, with a profile such as
#
#   [profile notebooks]
#   role_arn = arn:aws:iam::123456789012:role/notebooks
#   source_profile = default            # or credential_source = Environment
#   role_session_name = alice           # optional (default jupyters3-<time>)
#   external_id = ...                   # optional, when the role's trust policy asks for one
#   duration_seconds = 3600             # optional
#   region = eu-west-1                  # optional: picks the regional STS endpoint
#
# JupyterS3 calls STS AssumeRole, signed with the source profile's credentials
# (static keys, credential_process, IAM Identity Center, web identity or
# another role: chains are followed), signs every S3 request with the role's
# credentials and assumes the role again before they expire. credential_source
# may be Environment, EcsContainer or Ec2InstanceMetadata (the last needs
# `pip install jupyters3-auth-ec2`). A profile with mfa_serial is refused: a
# server cannot ask for the code (use credential_process with a tool that asks).
#
# Run it:
#   export JUPYTERS3_BUCKET=my-notebooks JUPYTERS3_AWS_PROFILE=notebooks AWS_REGION=eu-west-1
#   jupyter lab --config examples/jupyter_server_config_aws_assume_role.py
#
# Environment:
#   JUPYTERS3_BUCKET              the bucket (it must exist)
#   JUPYTERS3_PREFIX              optional key prefix ('' = whole bucket)
#   AWS_REGION                    the bucket's region (default us-east-1; also picks STS's region)
#   JUPYTERS3_AWS_PROFILE         the profile with role_arn (default: "default")
#   AWS_SHARED_CREDENTIALS_FILE   optional, default ~/.aws/credentials
#   AWS_CONFIG_FILE               optional, default ~/.aws/config
#   AWS_ENDPOINT_URL_STS          optional, e.g. an STS VPC endpoint

import os

c = get_config()

c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
c.JupyterS3.aws_s3_bucket = os.environ.get("JUPYTERS3_BUCKET", "")
c.JupyterS3.prefix = os.environ.get("JUPYTERS3_PREFIX", "")

# The default chain's profile step assumes the profile's role. A profile named
# here also skips AWS_ACCESS_KEY_ID in the environment (unless the profile says
# credential_source = Environment).
c.JupyterS3.authentication_class = "jupyters3.JupyterS3DefaultAuthentication"
c.JupyterS3DefaultAuthentication.profile = os.environ.get("JUPYTERS3_AWS_PROFILE", "default")
