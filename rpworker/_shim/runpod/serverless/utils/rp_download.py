"""``runpod.serverless.utils.rp_download``: download the files a job's input names."""

from rpworker.downloads import HEADERS, download_files_from_urls, file

__all__ = ["HEADERS", "download_files_from_urls", "file"]
