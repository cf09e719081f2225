# JupyterS3 with a profile whose credential_process prints the credentials (~/.aws/config).
#
# Use it on a laptop or workstation where a tool hands out AWS credentials
# (aws-vault, a corporate token broker, `aws configure export-credentials`) and
# the AWS CLI already reads them through a profile such as
#
#   [profile notebooks]
#   credential_process = /usr/local/bin/my-broker --role notebooks
#
# JupyterS3 reads the profile as the AWS CLI v2 does: the command runs without
# a shell (split like a shell would split it), at most 60 s, and prints
#   {"Version": 1, "AccessKeyId": ..., "SecretAccessKey": ...,
#    "SessionToken": ..., "Expiration": "2030-01-01T00:00:00Z"}
# It runs again before the Expiration (15 minutes before, in the background);
# without an Expiration the keys are kept for the server's life. If it fails,
# the error names the profile and the exit status (never what it printed).
#
# Run it:
#   export JUPYTERS3_BUCKET=my-notebooks JUPYTERS3_AWS_PROFILE=notebooks AWS_REGION=eu-west-1
#   jupyter lab --config examples/jupyter_server_config_aws_credential_process.py
#
# Environment:
#   JUPYTERS3_BUCKET              the bucket (it must exist)
#   JUPYTERS3_PREFIX              optional key prefix ('' = whole bucket)
#   AWS_REGION                    the bucket's region (default us-east-1)
#   JUPYTERS3_AWS_PROFILE         the profile with credential_process (default: "default")
#   AWS_CONFIG_FILE               optional, default ~/.aws/config

import os

c = get_config()

c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
c.JupyterS3.aws_s3_bucket = os.environ.get("JUPYTERS3_BUCKET", "")
c.JupyterS3.prefix = os.environ.get("JUPYTERS3_PREFIX", "")

# The default chain's profile step runs the profile's credential_process. A
# profile named here also skips AWS_ACCESS_KEY_ID in the environment.
c.JupyterS3.authentication_class = "jupyters3.JupyterS3DefaultAuthentication"
c.JupyterS3DefaultAuthentication.profile = os.environ.get("JUPYTERS3_AWS_PROFILE", "default")
