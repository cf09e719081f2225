# JupyterS3 on Amazon EKS with IAM roles for service accounts (IRSA).
#
# Use it in a pod whose service account is annotated with
# eks.amazonaws.com/role-arn. EKS mounts a web identity token in the pod and
# sets AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE; JupyterS3 exchanges the
# token at STS (AssumeRoleWithWebIdentity) for the role's credentials, re-reads
# the token file at every refresh (the kubelet rotates it) and refreshes the
# credentials before they expire.
#
# Run it (the container's command):
#   jupyter lab --ip=0.0.0.0 --config examples/jupyter_server_config_eks_irsa.py
#
# Environment:
#   JUPYTERS3_BUCKET              the bucket (it must exist)
#   JUPYTERS3_PREFIX              optional key prefix ('' = whole bucket)
#   AWS_REGION                    the bucket's region (also picks the regional STS endpoint)
#   AWS_ROLE_ARN                  the role to assume (set by EKS)
#   AWS_WEB_IDENTITY_TOKEN_FILE   the token EKS mounts (set by EKS)
#   AWS_ROLE_SESSION_NAME         optional (default jupyters3-<time>)
#   AWS_ENDPOINT_URL_STS          optional, e.g. an STS VPC endpoint

import os

c = get_config()

c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
c.JupyterS3.aws_s3_bucket = os.environ.get("JUPYTERS3_BUCKET", "")
c.JupyterS3.prefix = os.environ.get("JUPYTERS3_PREFIX", "")

# Web identity is part of the default chain (after AWS_ACCESS_KEY_ID / _SECRET_ACCESS_KEY).
c.JupyterS3.authentication_class = "jupyters3.JupyterS3DefaultAuthentication"
# If the service account lost its annotation, fail instead of falling back to
# the node's EC2 instance role (when jupyters3-auth-ec2 is installed).
c.JupyterS3DefaultAuthentication.entry_point_providers = False
