"""Child processes that end with rpbuild, however rpbuild ends.

A worker or server left behind by a ``kill -9`` of rpbuild keeps its port, its GPU,
or polls an endpoint that is gone. Linux can signal a child when its parent dies.
"""

from __future__ import annotations

import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def end_with_parent() -> None:
    """``preexec_fn`` of a child: SIGTERM when rpbuild ends, even by ``kill -9`` (Linux;
    elsewhere nothing). The child shuts down as on a Ctrl-C; ``docker run`` passes the
    signal on to its container."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)
