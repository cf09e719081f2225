# JupyterS3 for JupyterHub's single-user servers: one prefix per user in one bucket.
#
# Use it in the single-user image (as /etc/jupyter/jupyter_server_config.py,
# or with --config). JupyterHub sets JUPYTERHUB_USER in each user's server;
# alice's notebooks are then s3://<bucket>/users/alice/... and her file
# browser shows only those. Without JUPYTERHUB_USER the server refuses to
# start rather than share one prefix among users.
#
# The prefix separates users' views, not their permissions: if users must not
# reach each other's files, give each server credentials limited to its own
# prefix (an IAM policy with s3:prefix / the object ARN users/<name>/*).
# Credentials here come from the default chain (IRSA or Pod Identity on EKS,
# an instance role, ...): any of the other examples' settings combine with this.
#
# Run it (the spawner's command, or by hand to try it):
#   export JUPYTERS3_BUCKET=hub-notebooks AWS_REGION=eu-west-1
#   JUPYTERHUB_USER=alice jupyter lab --config examples/jupyter_server_config_jupyterhub.py
#
# Environment:
#   JUPYTERS3_BUCKET    the bucket shared by all users (it must exist)
#   JUPYTERHUB_USER     set by JupyterHub: the user's name
#   AWS_REGION          the bucket's region (default us-east-1)

import os
from urllib.parse import quote

c = get_config()

user = os.environ.get("JUPYTERHUB_USER", "")
if not user:
    raise SystemExit(
        "jupyter_server_config_jupyterhub.py: JUPYTERHUB_USER is not set, so there is no "
        "user prefix to serve. Run this under JupyterHub, or set JUPYTERHUB_USER to try it."
    )

c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
c.JupyterS3.aws_s3_bucket = os.environ.get("JUPYTERS3_BUCKET", "")
# One segment per user: quote() turns a '/' in a name into %2F ('.' and '..' are refused).
c.JupyterS3.prefix = f"users/{quote(user, safe='@+')}/"
c.JupyterS3.authentication_class = "jupyters3.JupyterS3DefaultAuthentication"
