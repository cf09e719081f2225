# JupyterS3 on Amazon ECS (EC2 or Fargate launch type) with the task's IAM role.
#
# Use it in a container of an ECS task whose task role may read and write the
# bucket. The ECS agent sets AWS_CONTAINER_CREDENTIALS_RELATIVE_URI in the
# container; JupyterS3 fetches the role's temporary credentials from
# http://169.254.170.2 and refreshes them before they expire.
#
# Run it (the container's command):
#   jupyter lab --ip=0.0.0.0 --config examples/jupyter_server_config_ecs.py
#
# Environment:
#   JUPYTERS3_BUCKET                         the bucket (it must exist)
#   JUPYTERS3_PREFIX                         optional key prefix ('' = whole bucket)
#   AWS_REGION                               the bucket's region (Fargate sets the task's)
#   AWS_CONTAINER_CREDENTIALS_RELATIVE_URI   set by the ECS agent

import os

c = get_config()

c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
c.JupyterS3.aws_s3_bucket = os.environ.get("JUPYTERS3_BUCKET", "")
c.JupyterS3.prefix = os.environ.get("JUPYTERS3_PREFIX", "")

# Only the container endpoint: no fallback to other sources if the task has no role.
c.JupyterS3.authentication_class = "jupyters3.JupyterS3ECSRoleAuthentication"
c.JupyterS3ECSRoleAuthentication.timeout = 2.0  # seconds per request to the endpoint
c.JupyterS3ECSRoleAuthentication.attempts = 3  # per refresh
# Refresh in the background 15 minutes before expiry; make requests wait from 10 (the defaults).
c.JupyterS3ECSRoleAuthentication.advisory_refresh_seconds = 15 * 60
c.JupyterS3ECSRoleAuthentication.mandatory_refresh_seconds = 10 * 60
