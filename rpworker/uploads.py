"""``rp_upload``: put a job's files in an S3 bucket and hand back presigned URLs.

Behaviour follows the SDK: without bucket settings (``BUCKET_ENDPOINT_URL``,
``BUCKET_ACCESS_KEY_ID``, ``BUCKET_SECRET_ACCESS_KEY`` or a ``bucket_creds``
dict) files are copied to ``simulated_uploaded/`` (``upload_image``) or
``local_upload/`` (the others) and that relative path is returned; with them
the bucket defaults to ``%m-%y`` and URLs are valid for 7 days.

The S3 client (boto3) is the optional extra ``rpworker[s3]``. The SDK then
silently falls back to the local copy, which on the platform loses the
file; here a configured bucket without boto3 is an error that names the fix.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger("rpworker.upload")

PRESIGNED_SECONDS = 604800
"""Seven days, as the SDK signs."""

S3_EXTRA_HINT = (
    "install the S3 extra of rpworker (pip install 'rpbuild[s3]', or boto3); "
    "rpbuild image adds it when the handler's code uses runpod.serverless.utils.rp_upload"
)


class S3ClientMissing(ImportError):
    """Bucket settings are present but boto3 is not installed."""


def _settings(bucket_creds: dict[str, Any] | None) -> tuple[str, str, str] | None:
    if bucket_creds:
        return (
            bucket_creds["endpointUrl"],
            bucket_creds["accessId"],
            bucket_creds["accessSecret"],
        )
    endpoint = os.environ.get("BUCKET_ENDPOINT_URL")
    key_id = os.environ.get("BUCKET_ACCESS_KEY_ID")
    secret = os.environ.get("BUCKET_SECRET_ACCESS_KEY")
    if endpoint and key_id and secret:
        return endpoint, key_id, secret
    return None


def extract_region_from_url(endpoint_url: str) -> str | None:
    """The region of an AWS/Backblaze (``.s3.<region>.``) or DigitalOcean Spaces URL."""
    if ".s3." in endpoint_url:
        return endpoint_url.split(".s3.")[1].split(".")[0]
    if urlparse(endpoint_url).netloc.endswith(".digitaloceanspaces.com"):
        return endpoint_url.split(".")[1].split(".digitaloceanspaces.com")[0]
    return None


def _import_boto3() -> Any:
    try:
        import boto3
        import botocore.config
    except ImportError as exc:
        raise S3ClientMissing(
            f"bucket settings are set (BUCKET_ENDPOINT_URL or bucket_creds) but boto3 is "
            f"not installed: {S3_EXTRA_HINT}"
        ) from exc
    return boto3, botocore.config


def get_boto_client(bucket_creds: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """``(client, transfer_config)`` for the configured bucket, or ``(None, None)``."""
    settings = _settings(bucket_creds)
    if settings is None:
        return None, None
    boto3, botocore_config = _import_boto3()
    from boto3.s3.transfer import TransferConfig

    endpoint, key_id, secret = settings
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=botocore_config.Config(
            signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"}
        ),
        region_name=extract_region_from_url(endpoint),
    )
    transfer = TransferConfig(
        multipart_threshold=25 * 1024,
        max_concurrency=os.cpu_count() or 1,
        multipart_chunksize=25 * 1024,
        use_threads=True,
    )
    return client, transfer


def require_client_if_configured() -> None:
    """Fail at start, not at the first upload, when a bucket is set and boto3 is not."""
    if _settings(None) is not None:
        _import_boto3()


def _save_locally(
    file_name: str,
    *,
    source_path: str | None = None,
    data: bytes | None = None,
    directory: str = "local_upload",
) -> str:
    log.warning(
        "No bucket endpoint set, saving to disk folder '%s'; on a live endpoint set "
        "BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID and BUCKET_SECRET_ACCESS_KEY",
        directory,
    )
    os.makedirs(directory, exist_ok=True)
    location = f"{directory}/{file_name}"
    if source_path:
        shutil.copyfile(source_path, location)
    elif data is not None:
        with open(location, "wb") as out:
            out.write(data)
    else:
        raise ValueError("Either source_path or file_data must be provided")
    return location


def _presign(client: Any, bucket: str, key: str) -> str:
    return str(
        client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGNED_SECONDS
        )
    )


def upload_image(
    job_id: str,
    image_location: str,
    result_index: int = 0,
    results_list: list[Any] | None = None,
    bucket_name: str | None = None,
) -> str:
    """Upload one file as ``{job_id}/{8 hex}{ext}``; its URL (or local path)."""
    name = str(uuid.uuid4())[:8]
    extension = os.path.splitext(image_location)[1]
    client, _ = get_boto_client()
    with open(image_location, "rb") as source:
        data = source.read()
    if client is None:
        location = _save_locally(f"{name}{extension}", data=data, directory="simulated_uploaded")
    else:
        bucket = bucket_name or time.strftime("%m-%y")
        key = f"{job_id}/{name}{extension}"
        client.put_object(
            Bucket=bucket, Key=key, Body=data, ContentType="image/" + extension.lstrip(".")
        )
        location = _presign(client, bucket, key)
    if results_list is not None:
        results_list[result_index] = location
    return location


def files(job_id: str, file_list: list[str]) -> list[str | None]:
    """Upload files in parallel with :func:`upload_image`; URLs in the same order."""
    urls: list[Any] = [None] * len(file_list)
    threads = [
        threading.Thread(target=upload_image, args=(job_id, path, index, urls))
        for index, path in enumerate(file_list)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return urls


def bucket_upload(job_id: str, file_list: list[str], bucket_creds: dict[str, Any]) -> list[str]:
    """Upload to ``bucket_creds["bucketName"]`` under ``{job_id}/{path}``; plain (unsigned) URLs."""
    boto3, botocore_config = _import_boto3()
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=bucket_creds["endpointUrl"],
        aws_access_key_id=bucket_creds["accessId"],
        aws_secret_access_key=bucket_creds["accessSecret"],
        config=botocore_config.Config(
            signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"}
        ),
    )
    urls = []
    for path in file_list:
        with open(path, "rb") as data:
            client.put_object(
                Bucket=str(bucket_creds["bucketName"]), Key=f"{job_id}/{path}", Body=data
            )
        urls.append(f"{bucket_creds['endpointUrl']}/{bucket_creds['bucketName']}/{job_id}/{path}")
    return urls


def _to_bucket(
    file_name: str,
    bucket_creds: dict[str, Any] | None,
    bucket_name: str | None,
    prefix: str | None,
    keep_locally: Callable[[], str],
    send: Callable[[Any, str, str, Any], object],
) -> str:
    """Send as ``[prefix/]file_name`` to the bucket (default ``%m-%y``); its presigned URL.

    Without bucket settings ``keep_locally`` runs instead and its path is returned.
    """
    client, transfer = get_boto_client(bucket_creds)
    if client is None:
        return keep_locally()
    bucket = bucket_name or time.strftime("%m-%y")
    key = f"{prefix}/{file_name}" if prefix else file_name
    send(client, bucket, key, transfer)
    return _presign(client, bucket, key)


def upload_file_to_bucket(
    file_name: str,
    file_location: str,
    bucket_creds: dict[str, Any] | None = None,
    bucket_name: str | None = None,
    prefix: str | None = None,
    extra_args: dict[str, Any] | None = None,
) -> str:
    """Upload a file as ``[prefix/]file_name``; a presigned URL (or ``local_upload/...``)."""
    options: dict[str, Any] = {"ExtraArgs": extra_args} if extra_args else {}
    return _to_bucket(
        file_name,
        bucket_creds,
        bucket_name,
        prefix,
        lambda: _save_locally(file_name, source_path=file_location),
        lambda client, bucket, key, transfer: client.upload_file(
            file_location, bucket, key, Config=transfer, **options
        ),
    )


def upload_in_memory_object(
    file_name: str,
    file_data: bytes,
    bucket_creds: dict[str, Any] | None = None,
    bucket_name: str | None = None,
    prefix: str | None = None,
) -> str:
    """Upload bytes as ``[prefix/]file_name``; a presigned URL (or ``local_upload/...``)."""
    return _to_bucket(
        file_name,
        bucket_creds,
        bucket_name,
        prefix,
        lambda: _save_locally(file_name, data=file_data),
        lambda client, bucket, key, transfer: client.upload_fileobj(
            io.BytesIO(file_data), bucket, key, Config=transfer
        ),
    )
