"""``runpod.serverless.utils.rp_ssrf``: the download guard's names handlers use.

Handlers catch ``SSRFError`` around downloads (the error a refused URL raises)
and read the size cap; the SDK's own pinned-address transport is not here.
"""

from rpworker.downloads import UnsafeURLError as SSRFError
from rpworker.downloads import is_public_address as is_safe_address
from rpworker.downloads import max_download_bytes

__all__ = ["SSRFError", "is_safe_address", "max_download_bytes"]
