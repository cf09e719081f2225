"""AWS credentials as the S3 client consumes them, and where they come from.

``AwsCreds`` is the value every authentication class returns from
``get_credentials()``; the signer only ever sees one such frozen snapshot.

The providers (one module each: :mod:`.providers` for the environment and the
shared files, :mod:`.profiles` for every kind of profile with
:mod:`.assume_role`, :mod:`.process` and :mod:`.sso`, :mod:`.web_identity`,
:mod:`.container`), the refreshing cache
(:mod:`.refresh`) and the default chain (:mod:`.chain`) are pure logic; their
only I/O is the :class:`~jupyters3.credentials.http.Fetcher` they are given,
the files the environment names and a profile's ``credential_process``.
"""

from jupyters3.credentials.types import AwsCreds, TimedCreds

__all__ = ["AwsCreds", "TimedCreds"]
