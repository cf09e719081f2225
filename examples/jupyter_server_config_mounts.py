# JupyterS3 with mounts: a user's own prefix, a shared team bucket and a read-only data lake.
#
# Use it when one file browser should show several buckets, or prefixes of them.
# The top level is the user's own prefix of the main bucket; "team/" is a
# prefix of another bucket that the team reads and writes; "lake/" is a data
# lake to read, where every write answers 403 before any request is sent.
# Copy, paste, drag and drop work in and across them (server-side copies: the
# mounts share the main bucket's endpoint and credentials). The mounts take
# the main bucket's endpoint, region and credentials (here the default chain)
# unless they set their own; docs/configure/mounts.md ("Mounts: several
# buckets in one file browser") shows one with its own, and the IAM policy
# each needs. A mount whose variable is unset is left out.
#
# Run it:
#   export JUPYTERS3_BUCKET=notebooks JUPYTERS3_PREFIX=users/alice/ AWS_REGION=eu-west-1
#   export JUPYTERS3_TEAM_URL=s3://team-ml/projects/churn/
#   export JUPYTERS3_LAKE_URL=s3://corp-data-lake/curated/ JUPYTERS3_LAKE_REGION=us-east-1
#   jupyter lab --config examples/jupyter_server_config_mounts.py
#
# Environment:
#   JUPYTERS3_BUCKET        the main bucket (it must exist); unset, the top level holds only mounts
#   JUPYTERS3_PREFIX        optional key prefix in it, e.g. users/alice/ ('' = whole bucket)
#   JUPYTERS3_TEAM_URL      the "team" mount, read and written: s3://<bucket>/<prefix>/
#   JUPYTERS3_LAKE_URL      the "lake" mount, read only: s3://<bucket>/<prefix>/
#   JUPYTERS3_LAKE_REGION   optional: the lake bucket's region, if not the main bucket's
#   AWS_REGION              the main bucket's region (default us-east-1)

import os

c = get_config()

c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
c.JupyterS3.aws_s3_bucket = os.environ.get("JUPYTERS3_BUCKET", "")
c.JupyterS3.prefix = os.environ.get("JUPYTERS3_PREFIX", "")
c.JupyterS3.authentication_class = "jupyters3.JupyterS3DefaultAuthentication"

mounts = {}
if os.environ.get("JUPYTERS3_TEAM_URL"):
    # A URL alone: the main bucket's endpoint, region and credentials.
    mounts["team"] = os.environ["JUPYTERS3_TEAM_URL"]
if os.environ.get("JUPYTERS3_LAKE_URL"):
    # Listings and models say writable: false; copying out of it is allowed.
    mounts["lake"] = {"url": os.environ["JUPYTERS3_LAKE_URL"], "read_only": True}
    if os.environ.get("JUPYTERS3_LAKE_REGION"):
        mounts["lake"]["region"] = os.environ["JUPYTERS3_LAKE_REGION"]
c.JupyterS3.mounts = mounts
