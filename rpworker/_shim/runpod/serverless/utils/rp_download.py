"""``runpod.serverless.utils.rp_download``: download the files a job's input names."""

from rpworker.downloads import (
    HEADERS,
    calculate_chunk_size,
    download_files_from_urls,
    extract_disposition_params,
    file,
    parse_content_length,
)

__all__ = [
    "HEADERS",
    "calculate_chunk_size",
    "download_files_from_urls",
    "extract_disposition_params",
    "file",
    "parse_content_length",
]
