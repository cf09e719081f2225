"""The credential value type shared by authentication classes and the signer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple


class AwsCreds(NamedTuple):
    """One immutable set of AWS credentials.

    ``pre_auth_headers`` are extra headers sent with, and signed into, every
    request: with temporary credentials, ``{"x-amz-security-token": token}``.
    """

    access_key_id: str
    secret_access_key: str
    pre_auth_headers: Mapping[str, str]

    def __repr__(self) -> str:
        # Never show the secret or a session token, not even in a traceback.
        return (
            f"AwsCreds(access_key_id={self.access_key_id!r}, secret_access_key='***', "
            f"pre_auth_headers=<{len(self.pre_auth_headers)} header(s)>)"
        )
