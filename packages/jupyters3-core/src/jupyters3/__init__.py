"""jupyters3: a Jupyter Server contents manager that keeps everything in S3.

The public names are listed in ``__all__``; everything else is internal.
"""

from jupyters3._version import __version__
from jupyters3.credentials import AwsCreds

__all__ = ["AwsCreds", "__version__"]
