"""Where a finished file is kept for its link: the local directory, or an S3-compatible bucket.

The bot always builds a file on local disk (``ADOPS_FILES_DIR``: the build engine streams parts
into it, Slack's upload reads it). What happens next depends on one setting, read once at boot
(:func:`make_store`):

- unset ``ADOPS_FILES_URL``, :class:`LocalStore`: the file stays where it is, and the web
  process serves it at ``/files/<token>`` (:mod:`workers.links`). One machine, or a shared disk.
- ``ADOPS_FILES_URL=s3://bucket/prefix``, :class:`S3Store`: the file is copied to
  ``<prefix><job id>/<name>`` with boto3, streamed part by part (``ADOPS_S3_PART_SIZE`` bytes in
  memory at a time, whatever the file's size), and the link is the store's own presigned GET
  URL, valid ``ADOPS_LINK_TTL`` seconds. Any machine can then hand it over, no web process
  serves it, and the local copy is removed once delivered (:mod:`workers.filedelivery`).

The bucket is checked once as a process starts (:meth:`S3Store.check`, from ``adops web``,
``worker``, ``clock`` and ``socket``): a wrong bucket, refused or missing credentials or an
endpoint that does not answer stop it with one line naming ``ADOPS_FILES_URL``, instead of
failing the first file delivered. The sweep deletes what its links no longer reach
(:meth:`S3Store.expire`, from :mod:`workers.filesweep`): only keys under the prefix named like
``<job id>/<name>``, listed a page at a time and deleted in batches.

Credentials are boto3's usual ones (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``, or an instance role); their values are registered with the log filter
and a failure is told as the store's error code and message, which never carry them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from workers import files
from workers.errors import ConfigError, StoreError
from workers.logs import register_secrets
from workers.settings import Settings, files_location

__all__ = ["MAX_PARTS", "LocalStore", "S3Store", "Store", "make_store"]

log = logging.getLogger(__name__)

#: S3 takes at most this many parts in one multipart upload.
MAX_PARTS = 10_000
#: The most keys S3 lists in one answer, and deletes in one ``DeleteObjects``.
MAX_KEYS = 1_000


class Store(Protocol):
    #: True when the file leaves this machine: its link is the store's, and the local copy can go.
    remote: bool

    def put(self, path: Path, key: str) -> None:
        """Keep the file at ``path`` under ``key`` (``<job id>/<name>``); StoreError if it can't."""

    def link(self, key: str, ttl: int) -> str | None:
        """A URL that downloads ``key`` for ``ttl`` seconds, or None when links are not the store's."""

    def check(self) -> None:
        """At start-up: ConfigError naming the setting if files could not be stored."""

    def expire(self, before: float) -> list[str]:
        """Delete the files stored before ``before`` (epoch seconds); their keys. StoreError if it can't."""


class LocalStore:
    """The embedded default: the file already is where it is kept, and links are the web's
    (the sweep deletes the local files itself)."""

    remote = False

    def put(self, path: Path, key: str) -> None:
        return None

    def link(self, key: str, ttl: int) -> str | None:
        return None

    def check(self) -> None:
        return None

    def expire(self, before: float) -> list[str]:
        return []


class S3Store:
    """Files in ``bucket`` under ``prefix``, uploaded in ``part_size`` parts, linked by presigned URL."""

    remote = True

    def __init__(self, client: Any, bucket: str, prefix: str, part_size: int, *, endpoint_given: bool = False) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.part_size = part_size
        self.endpoint_given = endpoint_given  # ADOPS_S3_ENDPOINT_URL set: the address to check is ours

    def key(self, key: str) -> str:
        return self.prefix + key

    def put(self, path: Path, key: str) -> None:
        name = key.rsplit("/", 1)[-1]
        # The link names the file as the web route does: a download, under its own name
        # (files.locate admitted only plain names, so it is safe in the header).
        extra = {"ContentType": files.content_type(name), "ContentDisposition": f'attachment; filename="{name}"'}
        try:
            size = path.stat().st_size
            if size > self.part_size * MAX_PARTS:
                raise StoreError(f"it is over {MAX_PARTS} parts of ADOPS_S3_PART_SIZE")
            if size <= self.part_size:
                with path.open("rb") as fh:  # botocore streams a file body: one small request
                    self.client.put_object(Bucket=self.bucket, Key=self.key(key), Body=fh, **extra)
            else:
                self._multipart(path, self.key(key), extra)
        except (ClientError, BotoCoreError, OSError) as exc:
            raise StoreError(_reason(exc)) from None
        log.info("stored %s (%d bytes) in bucket %s", self.key(key), size, self.bucket)

    def _multipart(self, path: Path, key: str, extra: dict[str, str]) -> None:
        """One part in memory at a time: the file's size never shows in the process's memory."""
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, **extra)["UploadId"]
        try:
            parts = []
            with path.open("rb") as fh:
                while chunk := fh.read(self.part_size):
                    number = len(parts) + 1
                    answer = self.client.upload_part(
                        Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=number, Body=chunk,
                    )
                    parts.append({"ETag": answer["ETag"], "PartNumber": number})
                    del chunk  # before the next read: two parts are never held at once
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts},
            )
        except BaseException:
            # Parts of an unfinished upload are billed until aborted: leave none behind.
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
            except (ClientError, BotoCoreError) as exc:
                log.warning("could not abort the unfinished upload of %s: %s", key, _reason(exc))
            raise

    def link(self, key: str, ttl: int) -> str | None:
        try:  # signed here, no request: only missing credentials can fail it
            url: str = self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": self.key(key)}, ExpiresIn=ttl,
            )
        except BotoCoreError as exc:
            raise StoreError(_reason(exc)) from None
        return url

    def check(self) -> None:
        """The bucket is there and ours to use: one ``HeadBucket`` (the ``s3:ListBucket`` right
        the sweep needs too). ConfigError naming ``ADOPS_FILES_URL`` and what is wrong, never a key
        nor the endpoint's address (it may carry credentials)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            # HEAD answers have no body: the code is the status (moto and MinIO also say the name).
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket", "NotFound"):
                why = f"there is no bucket {self.bucket} at this store"
            elif code in ("403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                why = (f"access to bucket {self.bucket} is denied: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                       "(or the role), which need s3:ListBucket, s3:PutObject, s3:GetObject and s3:DeleteObject")
            elif code in ("301", "PermanentRedirect", "AuthorizationHeaderMalformed"):
                why = f"bucket {self.bucket} is in another region: set AWS_DEFAULT_REGION to its region"
            elif code == "400":  # what AWS answers a HEAD signed for the wrong region, among other things
                why = f"the store answered 400 Bad Request for bucket {self.bucket}: is AWS_DEFAULT_REGION its region?"
            else:
                why = f"the store refused to show bucket {self.bucket} ({_reason(exc)})"
        except NoCredentialsError:
            why = "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the machine a role"
        except BotoCoreError as exc:
            where = "ADOPS_S3_ENDPOINT_URL" if self.endpoint_given else "AWS_DEFAULT_REGION"
            why = f"the store does not answer ({type(exc).__name__}): check {where} and the network"
        raise ConfigError(f"ADOPS_FILES_URL: {why}")

    def expire(self, before: float, *, page: int = MAX_KEYS, batch: int = MAX_KEYS) -> list[str]:
        """Delete the files stored before ``before`` (epoch seconds, by the store's LastModified):
        keys under the prefix named like ``<job id>/<name>``, so that nothing else in the bucket,
        or under an empty prefix, is touched. ``page`` keys are listed a request, ``batch`` deleted
        a request (S3 takes at most 1 000 of each); the keys deleted, without the prefix."""
        deleted: list[str] = []
        doomed: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix, PaginationConfig={"PageSize": page})
            for answer in pages:
                for found in answer.get("Contents", []):
                    if found["LastModified"].timestamp() < before and self._is_a_file(found["Key"]):
                        doomed.append(found["Key"])
                    if len(doomed) >= batch:
                        deleted += self._delete(doomed)
                        doomed = []
            if doomed:
                deleted += self._delete(doomed)
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(_reason(exc)) from None
        return [key.removeprefix(self.prefix) for key in deleted]

    def _is_a_file(self, key: str) -> bool:
        if not key.startswith(self.prefix):
            return False
        job_id, _, name = key.removeprefix(self.prefix).partition("/")
        return files.looks_like_job(job_id) and bool(name) and "/" not in name

    def _delete(self, keys: list[str]) -> list[str]:
        """One ``DeleteObjects``; the keys it deleted (a key S3 could not delete is logged, and
        comes up again at the next sweep)."""
        answer = self.client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True})
        errors = answer.get("Errors", [])
        if errors:
            log.warning("the store did not delete %d of %d expired files (%s: %s)", len(errors), len(keys),
                        errors[0].get("Code", ""), errors[0].get("Key", ""))
        failed = {e.get("Key") for e in errors}
        return [key for key in keys if key not in failed]


def make_store(settings: Settings, environ: dict[str, str] | None = None) -> Store:
    """This process's store, from ``ADOPS_FILES_URL`` (validated when the settings were read)."""
    if settings.adops_files_url is None:
        return LocalStore()
    env = dict(os.environ) if environ is None else environ
    # boto3 reads them itself; registered so that no log line of ours or a library's shows them.
    register_secrets([env.get("AWS_SECRET_ACCESS_KEY"), env.get("AWS_SESSION_TOKEN"), env.get("AWS_ACCESS_KEY_ID")])
    bucket, prefix = files_location(settings.adops_files_url)
    endpoint = str(settings.adops_s3_endpoint_url) if settings.adops_s3_endpoint_url is not None else None
    client = boto3.session.Session().client(
        "s3", endpoint_url=endpoint,
        # Signature v4 (the presigned URL's expiry is in it), path-style for S3-compatible stores,
        # and boto3's standard retries for a store's blips.
        config=Config(signature_version="s3v4", s3={"addressing_style": "path" if endpoint else "auto"},
                      retries={"mode": "standard", "max_attempts": 3}, connect_timeout=10, read_timeout=60),
    )
    return S3Store(client, bucket, prefix, settings.adops_s3_part_size, endpoint_given=endpoint is not None)


def _reason(exc: BaseException) -> str:
    """What went wrong, in the store's own words: its error code and message, never a request."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))
        return f"{code}: {message}".strip(": ")[:200] or "the store refused it"
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    if isinstance(exc, OSError):
        return f"the local file could not be read ({exc.strerror or type(exc).__name__})"
    return type(exc).__name__  # a BotoCoreError's text can carry the endpoint; its kind is enough
