"""pytest fixtures for jupyters3: moto S3 server, fault proxy, S3 inspector, live Jupyter server."""

from jupyters3_testing._version import __version__
from jupyters3_testing.faults import Fault, ProxyHook, ProxyRecord, RequestInfo
from jupyters3_testing.jupyter import JupyterServer, JupyterServerError, merge_config
from jupyters3_testing.jupyter_fixtures import JupyterFactory, jupyters3_config
from jupyters3_testing.leaks import SecretLeakError
from jupyters3_testing.proxy import FaultProxy
from jupyters3_testing.raw import RawS3
from jupyters3_testing.rest import ContentsClient, Response
from jupyters3_testing.s3server import DUMMY_AUTH_HEADERS, MotoServer, MotoServerError

__all__ = [
    "DUMMY_AUTH_HEADERS",
    "ContentsClient",
    "Fault",
    "FaultProxy",
    "JupyterFactory",
    "JupyterServer",
    "JupyterServerError",
    "MotoServer",
    "MotoServerError",
    "ProxyHook",
    "ProxyRecord",
    "RawS3",
    "RequestInfo",
    "Response",
    "SecretLeakError",
    "__version__",
    "jupyters3_config",
    "merge_config",
]
