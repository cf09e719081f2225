# JupyterHub with per-user least privilege for jupyters3: one role, users kept apart.
#
# The hub's jupyterhub_config.py, for servers started as local processes
# (LocalProcessSpawner; DockerSpawner takes the same call, see the README).
# pip install jupyters3-hub in the hub's environment. jupyters3_hub.configure()
# registers the credentials service (it assumes JUPYTERS3_ROLE_ARN with the
# hub's own AWS credentials and a session policy per user), gives every
# server's token the scope to call it, and sets the servers' environment that
# jupyter_server_config_jupyterhub_scoped.py reads.
#
# Run it:
#   export JUPYTERS3_ROLE_ARN=arn:aws:iam::123456789012:role/jupyterhub-users
#   export JUPYTERS3_BUCKET=hub-notebooks AWS_REGION=eu-west-1
#   jupyterhub -f examples/jupyterhub_config_scoped.py
#
# Environment:
#   JUPYTERS3_ROLE_ARN          the users' role (its trust policy names the hub's role)
#   JUPYTERS3_BUCKET            the bucket with one prefix per user (users/<name>/)
#   JUPYTERS3_TEAM_URL          optional: a mount every user shares, e.g. s3://team-ml/projects/
#   JUPYTERS3_LAKE_URL          optional: a read-only mount, e.g. s3://lake/curated/
#   JUPYTERS3_SINGLEUSER_CONFIG the single-user config (default: the example beside this file)
#   AWS_REGION                  the buckets' region

import os
import sys
from pathlib import Path

import jupyters3_hub

c = get_config()

mounts = {}
if os.environ.get("JUPYTERS3_TEAM_URL"):
    mounts["team"] = os.environ["JUPYTERS3_TEAM_URL"]
if os.environ.get("JUPYTERS3_LAKE_URL"):
    mounts["lake"] = os.environ["JUPYTERS3_LAKE_URL"] + ":ro"

jupyters3_hub.configure(
    c,
    role_arn=os.environ.get("JUPYTERS3_ROLE_ARN", ""),
    bucket=os.environ.get("JUPYTERS3_BUCKET", ""),
    prefix_template="users/{username}/",
    mounts=mounts,
)

singleuser_config = os.environ.get("JUPYTERS3_SINGLEUSER_CONFIG") or str(
    Path(__file__).with_name("jupyter_server_config_jupyterhub_scoped.py")
)
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.args = [f"--config={singleuser_config}"]
