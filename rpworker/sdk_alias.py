"""Make ``import runpod`` find rpworker's alias package in plain ``python handler.py``.

``python -m rpworker.sdk_alias`` (run once when an image is built) writes a
``.pth`` file that appends the alias directory to ``sys.path``. Appended, it
comes after site-packages: where the real SDK is installed, ``import
runpod`` still finds the SDK; where it is not, it finds rpworker's.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

SHIM_DIR = Path(__file__).resolve().parent / "_shim"
PTH_NAME = "rpworker-runpod-alias.pth"


def install(site_packages: Path | None = None) -> Path:
    target = (site_packages or Path(sysconfig.get_paths()["purelib"])) / PTH_NAME
    target.write_text(f"{SHIM_DIR}\n", encoding="utf-8")
    return target


def main() -> int:
    print(f"rpworker: wrote {install()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
