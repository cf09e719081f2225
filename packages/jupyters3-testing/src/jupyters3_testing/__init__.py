"""pytest fixtures for jupyters3: a real moto S3 server, a fault proxy, an S3 inspector."""

from jupyters3_testing._version import __version__
from jupyters3_testing.faults import Fault, ProxyRecord, RequestInfo
from jupyters3_testing.proxy import FaultProxy
from jupyters3_testing.raw import RawS3
from jupyters3_testing.s3server import DUMMY_AUTH_HEADERS, MotoServer, MotoServerError

__all__ = [
    "DUMMY_AUTH_HEADERS",
    "Fault",
    "FaultProxy",
    "MotoServer",
    "MotoServerError",
    "ProxyRecord",
    "RawS3",
    "RequestInfo",
    "__version__",
]
