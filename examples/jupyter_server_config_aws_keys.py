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
# Never write a secret into this file: keep reading it from the environment
# (or from a file only this user can read).

import os

c = get_config()

c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
c.JupyterS3.aws_s3_bucket = os.environ.get("JUPYTERS3_BUCKET", "")
c.JupyterS3.prefix = os.environ.get("JUPYTERS3_PREFIX", "")

c.JupyterS3.authentication_class = "jupyters3.JupyterS3SecretAccessKeyAuthentication"
c.JupyterS3SecretAccessKeyAuthentication.aws_access_key_id = os.environ.get(
    "JUPYTERS3_AWS_ACCESS_KEY_ID", ""
)
c.JupyterS3SecretAccessKeyAuthentication.aws_secret_access_key = os.environ.get(
    "JUPYTERS3_AWS_SECRET_ACCESS_KEY", ""
)
c.JupyterS3SecretAccessKeyAuthentication.aws_session_token = os.environ.get(
    "JUPYTERS3_AWS_SESSION_TOKEN", ""
)
