# JupyterS3 for JupyterHub's single-user servers, each confined to its user's prefix.
#
# Use it in the single-user image (as /etc/jupyter/jupyter_server_config.py) of a
# hub configured with jupyterhub_config_scoped.py (jupyters3-hub): the hub sets
# every variable below for each server. The server gets its credentials from
# the hub's credentials service (scoped by an STS session policy to
# users/<name>/ and the shared mounts), refreshes them before they expire,
# stops at start unless a LIST outside its prefix is refused, warns about
# broader identities its kernels could reach, and gives its kernels the same
# scoped credentials: boto3 in a notebook needs no configuration.
#
# Run it (the spawner's command; by hand only to try it against a running hub):
#   jupyter lab --config examples/jupyter_server_config_jupyterhub_scoped.py
#
# Environment (set by jupyters3_hub.configure() in jupyterhub_config.py):
#   JUPYTERHUB_USER                 the user's name (set by JupyterHub)
#   JUPYTERS3_BUCKET                the bucket shared by all users
#   JUPYTERS3_PREFIX                the user's prefix, e.g. users/alice/
#   JUPYTERS3_MOUNTS                the shared mounts, JSON: {"team": "s3://b/p/", "lake": "s3://l/c/:ro"}
#   JUPYTERS3_HUB_CREDENTIALS_URL   where the credentials service answers
#   JUPYTERHUB_API_TOKEN            the server's hub token (set by JupyterHub)
#   AWS_REGION                      the buckets' region

import json
import os

c = get_config()

if not os.environ.get("JUPYTERHUB_USER") or not os.environ.get("JUPYTERS3_PREFIX"):
    raise SystemExit(
        "jupyter_server_config_jupyterhub_scoped.py: JUPYTERHUB_USER or JUPYTERS3_PREFIX is not "
        "set: run this under a JupyterHub configured with jupyters3_hub.configure()."
    )

mounts = {}
for name, url in json.loads(os.environ.get("JUPYTERS3_MOUNTS") or "{}").items():
    read_only = url.endswith(":ro")
    mounts[name] = {"url": url.removesuffix(":ro"), "read_only": read_only}

c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
c.JupyterS3.aws_s3_bucket = os.environ.get("JUPYTERS3_BUCKET", "")
c.JupyterS3.prefix = os.environ["JUPYTERS3_PREFIX"]
c.JupyterS3.mounts = mounts
c.JupyterS3.authentication_class = "jupyters3.hub.JupyterS3HubAuthentication"
# The service's URL and the server's token come from the environment; the
# defaults below are shown for reference:
# c.JupyterS3HubAuthentication.check_confinement = True
# c.JupyterS3HubAuthentication.kernel_credentials = True
