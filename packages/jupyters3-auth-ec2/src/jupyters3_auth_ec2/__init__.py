from jupyters3_auth_ec2._version import __version__

__all__ = ["__version__"]
