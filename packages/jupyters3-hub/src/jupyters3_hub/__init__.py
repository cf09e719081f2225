"""Per-user least privilege for jupyters3 under JupyterHub.

One call in ``jupyterhub_config.py`` (:func:`configure`) registers a
JupyterHub-managed service that hands each user's server S3 credentials
scoped by an STS session policy to that user's prefix and the shared mounts
(:mod:`jupyters3_hub.service`); the single-user servers fetch and refresh them
with ``jupyters3.hub.JupyterS3HubAuthentication`` and give their kernels the
same, and nothing broader.
"""

from jupyters3_hub._version import __version__
from jupyters3_hub.config import DEFAULT_SERVICE_NAME, configure
from jupyters3_hub.settings import HubSettings, UserRefused

__all__ = ["DEFAULT_SERVICE_NAME", "HubSettings", "UserRefused", "__version__", "configure"]
