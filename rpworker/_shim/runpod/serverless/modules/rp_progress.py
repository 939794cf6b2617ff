"""``runpod.serverless.modules.rp_progress``."""

from rpworker.progress import progress_update

__all__ = ["progress_update"]
