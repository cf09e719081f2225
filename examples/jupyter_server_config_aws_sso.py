# JupyterS3 with an IAM Identity Center (AWS SSO) profile, after `aws sso login`.
#
# Use it on a laptop or workstation where you sign in with IAM Identity
# Center, with a profile such as (what `aws configure sso` writes)
#
#   [profile notebooks]
#   sso_session = corp
#   sso_account_id = 123456789012
#   sso_role_name = Notebooks
#   [sso-session corp]
#   sso_start_url = https://corp.awsapps.com/start
#   sso_region = eu-west-1
#
# (or the legacy form: sso_start_url and sso_region in the profile itself).
# JupyterS3 reads the token `aws sso login` cached in ~/.aws/sso/cache/ and
# asks the IAM Identity Center portal for the role's credentials, again before
# they expire (reading the token again, so a new login is picked up without a
# restart). When the login is missing or has expired, the error says to run
# "aws sso login --profile notebooks".
#
# Run it:
#   aws sso login --profile notebooks
#   export JUPYTERS3_BUCKET=my-notebooks JUPYTERS3_AWS_PROFILE=notebooks AWS_REGION=eu-west-1
#   jupyter lab --config examples/jupyter_server_config_aws_sso.py
#
# Environment:
#   JUPYTERS3_BUCKET              the bucket (it must exist)
#   JUPYTERS3_PREFIX              optional key prefix ('' = whole bucket)
#   AWS_REGION                    the bucket's region (default us-east-1)
#   JUPYTERS3_AWS_PROFILE         the SSO profile (default: "default")
#   AWS_CONFIG_FILE               optional, default ~/.aws/config
#   AWS_ENDPOINT_URL_SSO          optional, the portal's URL (tests, private endpoints)

import os

c = get_config()

c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
c.JupyterS3.aws_s3_bucket = os.environ.get("JUPYTERS3_BUCKET", "")
c.JupyterS3.prefix = os.environ.get("JUPYTERS3_PREFIX", "")

# The default chain's profile step reads the IAM Identity Center profile. A
# profile named here also skips AWS_ACCESS_KEY_ID in the environment.
c.JupyterS3.authentication_class = "jupyters3.JupyterS3DefaultAuthentication"
c.JupyterS3DefaultAuthentication.profile = os.environ.get("JUPYTERS3_AWS_PROFILE", "default")
