# JupyterS3 on MinIO, or another S3-compatible store (Ceph RGW, Cloudflare R2, ...).
#
# Use it when the bucket is not on AWS. Three settings differ from AWS: the
# endpoint URL (plain http is fine for a local server), path-style addressing
# (the bucket in the URL's path; most such stores have no wildcard DNS) and
# the region the store signs with (MinIO: us-east-1 unless configured; R2: auto).
#
# Run it (a throwaway local MinIO, for a try):
#   docker run -d -p 127.0.0.1:9000:9000 -e MINIO_ROOT_USER=minio-user \
#       -e MINIO_ROOT_PASSWORD=choose-a-password minio/minio server /data
#   mc alias set local http://127.0.0.1:9000 minio-user choose-a-password
#   mc mb local/notebooks
#   export JUPYTERS3_BUCKET=notebooks MINIO_ENDPOINT=http://127.0.0.1:9000
#   export MINIO_ACCESS_KEY=minio-user MINIO_SECRET_KEY=choose-a-password
#   jupyter lab --config examples/jupyter_server_config_minio.py
#
# Environment:
#   JUPYTERS3_BUCKET   the bucket (it must exist)
#   JUPYTERS3_PREFIX   optional key prefix ('' = whole bucket)
#   MINIO_ENDPOINT     the store's URL (default http://127.0.0.1:9000)
#   MINIO_REGION       the region it signs with (default us-east-1)
#   MINIO_ACCESS_KEY   an access key (in production one made for Jupyter, not the root user)
#   MINIO_SECRET_KEY   its secret

import os

c = get_config()

c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"
c.JupyterS3.aws_s3_bucket = os.environ.get("JUPYTERS3_BUCKET", "")
c.JupyterS3.prefix = os.environ.get("JUPYTERS3_PREFIX", "")

c.JupyterS3.endpoint_url = os.environ.get("MINIO_ENDPOINT", "http://127.0.0.1:9000")
c.JupyterS3.addressing_style = "path"
c.JupyterS3.aws_region = os.environ.get("MINIO_REGION", "us-east-1")
# c.JupyterS3.validate_cert = False  # only for a test server with a self-signed certificate

c.JupyterS3.authentication_class = "jupyters3.JupyterS3SecretAccessKeyAuthentication"
c.JupyterS3SecretAccessKeyAuthentication.aws_access_key_id = os.environ.get("MINIO_ACCESS_KEY", "")
c.JupyterS3SecretAccessKeyAuthentication.aws_secret_access_key = os.environ.get(
    "MINIO_SECRET_KEY", ""
)
