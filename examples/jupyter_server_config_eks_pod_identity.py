# JupyterS3 on Amazon EKS with EKS Pod Identity.
#
# Use it in a pod whose service account has a pod identity association (and
# the eks-pod-identity-agent add-on runs on the cluster). EKS sets
# AWS_CONTAINER_CREDENTIALS_FULL_URI (the agent, http://169.254.170.23/v1/credentials)
# and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE; JupyterS3 sends the token file's
# current contents (re-read at every refresh) and refreshes the role's
# credentials before they expire.
#
# Run it (the container's command):
#   jupyter lab --ip=0.0.0.0 --config examples/jupyter_server_config_eks_pod_identity.py
#
# Environment:
#   JUPYTERS3_BUCKET                         the bucket (it must exist)
#   JUPYTERS3_PREFIX                         optional key prefix ('' = whole bucket)
#   AWS_REGION                               the bucket's region (default us-east-1)
#   AWS_CONTAINER_CREDENTIALS_FULL_URI       the agent's URL (set by EKS)
#   AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE   the token the agent checks (set by EKS)

import os

c = get_config()

c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
c.JupyterS3.aws_s3_bucket = os.environ.get("JUPYTERS3_BUCKET", "")
c.JupyterS3.prefix = os.environ.get("JUPYTERS3_PREFIX", "")

# The container credentials class serves ECS task roles and EKS Pod Identity alike;
# used alone, it never falls back to the node's instance role.
c.JupyterS3.authentication_class = "jupyters3.JupyterS3ECSRoleAuthentication"
c.JupyterS3ECSRoleAuthentication.timeout = 2.0  # seconds per request to the agent
c.JupyterS3ECSRoleAuthentication.attempts = 3  # per refresh
