"""``runpod.serverless.modules.rp_logger``."""

from rpworker.logs import MAX_MESSAGE_LENGTH, SDK_LEVELS, RunPodLogger

LOG_LEVELS = list(SDK_LEVELS)

__all__ = ["LOG_LEVELS", "MAX_MESSAGE_LENGTH", "RunPodLogger"]
