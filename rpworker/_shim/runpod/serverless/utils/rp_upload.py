"""``runpod.serverless.utils.rp_upload``: upload files to an S3 bucket (boto3: ``rpworker[s3]``)."""

from rpworker.uploads import (
    bucket_upload,
    extract_region_from_url,
    files,
    get_boto_client,
    require_client_if_configured,
    upload_file_to_bucket,
    upload_image,
    upload_in_memory_object,
)

require_client_if_configured()

__all__ = [
    "bucket_upload",
    "extract_region_from_url",
    "files",
    "get_boto_client",
    "upload_file_to_bucket",
    "upload_image",
    "upload_in_memory_object",
]
