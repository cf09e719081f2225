"""AWS credentials as the S3 client consumes them.

``AwsCreds`` is the value every authentication class returns from
``get_credentials()``; the signer only ever sees one such frozen snapshot.
"""

from jupyters3.credentials.types import AwsCreds

__all__ = ["AwsCreds"]
