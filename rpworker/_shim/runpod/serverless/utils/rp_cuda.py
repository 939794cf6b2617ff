"""``runpod.serverless.utils.rp_cuda``: is a GPU there, without torch."""

import subprocess


def is_available() -> bool:
    """True when ``nvidia-smi`` runs and prints its banner, as in the SDK."""
    try:
        output = subprocess.check_output(["nvidia-smi"], stderr=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return False
    return "NVIDIA-SMI" in output.decode(errors="replace")


__all__ = ["is_available"]
