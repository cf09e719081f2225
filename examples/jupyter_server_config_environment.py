# JupyterS3 with the credentials in the standard AWS environment variables.
#
# Use it on a laptop or in CI where AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
# are exported already (by hand, by `aws-vault exec`, or by
# `eval "$(aws configure export-credentials --format env)"`). This is the
# default credential chain, so the same file also works with a ~/.aws profile,
# web identity, ECS/EKS or (with jupyters3-auth-ec2) EC2: the environment is
# simply the first place it looks. Keys in the environment are not refreshed:
# when temporary ones expire, export new ones and restart.
#
# Run it:
#   export JUPYTERS3_BUCKET=my-notebooks AWS_REGION=eu-west-1
#   export AWS_ACCESS_KEY_ID=AKIA... AWS_SECRET_ACCESS_KEY=...
#   jupyter lab --config examples/jupyter_server_config_environment.py
#
# Environment:
#   JUPYTERS3_BUCKET            the bucket (it must exist)
#   JUPYTERS3_PREFIX            optional key prefix ('' = whole bucket)
#   AWS_REGION                  the bucket's region (default us-east-1)
#   AWS_ACCESS_KEY_ID           the access key id
#   AWS_SECRET_ACCESS_KEY       its secret
#   AWS_SESSION_TOKEN           optional, for temporary keys

import os

c = get_config()

c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
c.JupyterS3.aws_s3_bucket = os.environ.get("JUPYTERS3_BUCKET", "")
c.JupyterS3.prefix = os.environ.get("JUPYTERS3_PREFIX", "")

# The default, named here to make it visible: environment -> web identity ->
# profile -> container -> EC2 instance role. The log says which one was used.
c.JupyterS3.authentication_class = "jupyters3.JupyterS3DefaultAuthentication"
