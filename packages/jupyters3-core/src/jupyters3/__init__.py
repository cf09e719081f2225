"""jupyters3: a Jupyter Server contents manager that keeps everything in S3.

``c.ServerApp.contents_manager_class = "jupyters3.JupyterS3"``. The public
names are listed in ``__all__``; everything else is internal.
"""

from jupyters3._version import __version__
from jupyters3.auth import (
    JupyterS3Authentication,
    JupyterS3DefaultAuthentication,
    JupyterS3ECSRoleAuthentication,
    JupyterS3SecretAccessKeyAuthentication,
)
from jupyters3.credentials import AwsCreds
from jupyters3.manager import JupyterS3

__all__ = [
    "AwsCreds",
    "JupyterS3",
    "JupyterS3Authentication",
    "JupyterS3DefaultAuthentication",
    "JupyterS3ECSRoleAuthentication",
    "JupyterS3SecretAccessKeyAuthentication",
    "__version__",
]
