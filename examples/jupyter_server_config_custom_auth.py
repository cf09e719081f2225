# JupyterS3 with an authentication class of your own, written in this file.
#
# Use it as the template when credentials come from somewhere jupyters3 does
# not know (a secrets service, a token broker, ...). A subclass of
# JupyterS3Authentication implements get_credentials(), a coroutine (a Tornado
# @gen.coroutine, as here, or an `async def`) that returns
# AwsCreds(access_key_id, secret_access_key, pre_auth_headers); the
# pre_auth_headers (such as x-amz-security-token) are sent and signed with
# every request. JupyterS3 calls it before every S3 request, so cache.
#
# The class below is written like the original jupyters3 design's EC2 example:
# it reads an instance role's credentials from the instance metadata service
# (IMDSv1 only) and tracks their expiration itself. For EC2 itself, prefer
# jupyter_server_config_ec2.py (IMDSv2, one refresh at a time, retries).
#
# Run it:
#   export JUPYTERS3_BUCKET=my-notebooks AWS_REGION=eu-west-1 JUPYTERS3_EC2_ROLE_NAME=notebooks
#   jupyter lab --config examples/jupyter_server_config_custom_auth.py
#
# Environment:
#   JUPYTERS3_BUCKET                   the bucket (it must exist)
#   JUPYTERS3_PREFIX                   optional key prefix ('' = whole bucket)
#   AWS_REGION                         the bucket's region (default us-east-1)
#   JUPYTERS3_EC2_ROLE_NAME            the instance profile's role name
#   AWS_EC2_METADATA_SERVICE_ENDPOINT  optional (default http://169.254.169.254)

import datetime
import json
import os

from tornado import gen
from tornado.httpclient import AsyncHTTPClient
from traitlets import Dict, Unicode

from jupyters3 import AwsCreds, JupyterS3Authentication

c = get_config()

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class EC2MetadataRoleAuthentication(JupyterS3Authentication):
    """An EC2 instance role's credentials, fetched again 10 minutes before they expire."""

    role_name = Unicode(config=True, help="The instance profile's role name.")
    metadata_url = Unicode("http://169.254.169.254", config=True, help="The metadata service.")

    aws_access_key_id = Unicode()
    aws_secret_access_key = Unicode()
    pre_auth_headers = Dict()
    expiration = EPOCH

    @gen.coroutine
    def get_credentials(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        if now > self.expiration - datetime.timedelta(minutes=10):
            url = f"{self.metadata_url}/latest/meta-data/iam/security-credentials/{self.role_name}"
            response = yield AsyncHTTPClient().fetch(url, method="GET", request_timeout=2)
            creds = json.loads(response.body.decode("utf-8"))
            self.aws_access_key_id = creds["AccessKeyId"]
            self.aws_secret_access_key = creds["SecretAccessKey"]
            self.pre_auth_headers = {"x-amz-security-token": creds["Token"]}
            self.expiration = datetime.datetime.strptime(
                creds["Expiration"], "%Y-%m-%dT%H:%M:%SZ"
            ).replace(tzinfo=datetime.timezone.utc)
        return AwsCreds(
            access_key_id=self.aws_access_key_id,
            secret_access_key=self.aws_secret_access_key,
            pre_auth_headers=self.pre_auth_headers,
        )

    def invalidate(self, rejected=None):
        """Optional: S3 refused `rejected` (ExpiredToken, ...): fetch new ones next time.

        Only while they are still the current ones, so that many requests
        failing together cause one fetch.
        """
        if rejected is None or rejected.access_key_id == self.aws_access_key_id:
            self.expiration = EPOCH


c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
c.JupyterS3.aws_s3_bucket = os.environ.get("JUPYTERS3_BUCKET", "")
c.JupyterS3.prefix = os.environ.get("JUPYTERS3_PREFIX", "")

# The class itself (defined above); a class in an importable module can be named
# by its dotted path instead, e.g. "mypackage.auth.MyAuthentication".
c.JupyterS3.authentication_class = EC2MetadataRoleAuthentication
c.EC2MetadataRoleAuthentication.role_name = os.environ.get("JUPYTERS3_EC2_ROLE_NAME", "")
c.EC2MetadataRoleAuthentication.metadata_url = os.environ.get(
    "AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://169.254.169.254"
).rstrip("/")
