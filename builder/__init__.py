"""rpbuild: build GPU worker images; the CLI and the build side."""

from rpworker.version import __version__

__all__ = ["__version__"]
