# JupyterHub on Kubernetes (Zero to JupyterHub) with per-user least privilege.
#
# Goes in the Helm values as hub.extraConfig (the hub image needs
# pip install jupyters3-hub; the single-user image jupyters3-core and
# jupyter_server_config_jupyterhub_scoped.py as /etc/jupyter/jupyter_server_config.py).
# The service runs in the hub pod and listens on all its interfaces; single-user
# pods reach it through the hub's Kubernetes service (hub.service.extraPorts and
# hub.networkPolicy, see the README). The hub pod's own identity (IRSA or Pod
# Identity on the hub's service account) signs AssumeRole; single-user pods get
# no role at all.
#
# Run it (to try the file outside Kubernetes):
#   export JUPYTERS3_ROLE_ARN=arn:aws:iam::123456789012:role/jupyterhub-users
#   export JUPYTERS3_BUCKET=hub-notebooks AWS_REGION=eu-west-1
#   jupyterhub -f examples/jupyterhub_config_scoped_kubernetes.py
#
# Environment:
#   JUPYTERS3_ROLE_ARN   the users' role (trusts the hub's role)
#   JUPYTERS3_BUCKET     the bucket with one prefix per user (users/<name>/)
#   JUPYTERS3_TEAM_URL   optional: a mount every user shares, e.g. s3://team-ml/projects/
#   AWS_REGION           the buckets' region

import os

import jupyters3_hub

c = get_config()

mounts = {"team": os.environ["JUPYTERS3_TEAM_URL"]} if os.environ.get("JUPYTERS3_TEAM_URL") else {}

jupyters3_hub.configure(
    c,
    role_arn=os.environ.get("JUPYTERS3_ROLE_ARN", ""),
    bucket=os.environ.get("JUPYTERS3_BUCKET", ""),
    mounts=mounts,
    port=8282,
    url="http://hub:8282",  # how the hub and the proxy reach the service
    bind="0.0.0.0:8282",  # the service listens on the hub pod's interfaces
    internal_url="http://hub:8282",  # how single-user pods reach it
)
