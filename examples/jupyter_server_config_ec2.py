# JupyterS3 on an EC2 instance with the instance's IAM role (instance profile).
#
# Use it on an EC2 instance (or a container on one) whose instance profile may
# read and write the bucket. Needs the add-on package:
#   pip install jupyters3-core jupyters3-auth-ec2
# Credentials come from the instance metadata service (IMDSv2, falling back to
# IMDSv1 where the token request is refused) and are refreshed before they expire.
# For a container on EC2, set the instance's metadata hop limit to 2: at 1 the
# IMDSv2 token never reaches the container.
#
# Run it:
#   export JUPYTERS3_BUCKET=my-notebooks AWS_REGION=eu-west-1
#   jupyter lab --config examples/jupyter_server_config_ec2.py
#
# Environment:
#   JUPYTERS3_BUCKET                   the bucket (it must exist)
#   JUPYTERS3_PREFIX                   optional key prefix ('' = whole bucket)
#   AWS_REGION                         the bucket's region: EC2 does not set it (default us-east-1)
#   JUPYTERS3_EC2_ROLE_NAME            optional: the role ('' = the one attached to the instance)
#   AWS_EC2_METADATA_SERVICE_ENDPOINT  optional (default http://169.254.169.254)

import os

c = get_config()

c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
c.JupyterS3.aws_s3_bucket = os.environ.get("JUPYTERS3_BUCKET", "")
c.JupyterS3.prefix = os.environ.get("JUPYTERS3_PREFIX", "")

# The instance role alone. (Installed, jupyters3-auth-ec2 is also the last step of
# the default chain, JupyterS3DefaultAuthentication, with these same settings.)
c.JupyterS3.authentication_class = "jupyters3_auth_ec2.JupyterS3EC2RoleAuthentication"
c.JupyterS3EC2RoleAuthentication.role_name = os.environ.get("JUPYTERS3_EC2_ROLE_NAME", "")
c.JupyterS3EC2RoleAuthentication.timeout = 1.0  # seconds per metadata request
c.JupyterS3EC2RoleAuthentication.attempts = 2  # per refresh
