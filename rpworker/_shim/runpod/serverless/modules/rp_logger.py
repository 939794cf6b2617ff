"""``runpod.serverless.modules.rp_logger``."""

from rpworker.logs import RunPodLogger

__all__ = ["RunPodLogger"]
