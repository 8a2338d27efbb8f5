"""The object store port and its adapters.

Domain code (the detector, the crawl planners) reads and writes objects through
:class:`ObjectStore`, never through boto3 directly: :class:`S3ObjectStore` wraps an
injected S3 client (real AWS, or moto in the local runtime and tests) and
:class:`MemoryObjectStore` is the in-process fake with the same behaviour,
conditional writes included, as is :class:`FolderObjectStore` over a local folder.

Conditional writes (``if_none_match`` / ``if_match``) are S3's own optimistic
concurrency (since 2024): they let two writers of the same pointer object detect
each other instead of silently overwriting one another.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from botocore.exceptions import ClientError

from connector.errors import ConnectorError

_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(?P<key>.*))?$")


class StorageError(ConnectorError):
    """The object store refused or failed a request."""

    exit_code = 1


class ObjectNotFoundError(StorageError):
    """The requested key does not exist."""


class PreconditionFailedError(StorageError):
    """A conditional write lost: the object changed (or appeared) since it was read."""


class KeyOutsideFolderError(StorageError):
    """A :class:`FolderObjectStore` key names a file outside its folder."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One listed object."""

    key: str
    size: int


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object's body with the ETag to make a later write conditional on it."""

    key: str
    body: bytes
    etag: str


@runtime_checkable
class ObjectStore(Protocol):
    """The objects of one bucket."""

    @property
    def bucket(self) -> str: ...

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        """Write ``body`` at ``key`` and return its ETag.

        ``if_match``: write only if the current ETag is this one; ``if_none_match``:
        write only if the key does not exist. Either failing raises
        :class:`PreconditionFailedError`.
        """
        ...

    def get(self, key: str) -> StoredObject:
        """Read ``key``; :class:`ObjectNotFoundError` if absent."""
        ...

    def list(self, prefix: str, *, recursive: bool = True) -> list[ObjectInfo]:
        """Objects under ``prefix`` sorted by key; ``recursive=False`` skips sub-folders."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are not an error."""
        ...

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        ...


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into ``(bucket, key)``."""
    match = _S3_URI.match(uri)
    if match is None:
        raise StorageError(f"{uri!r} is not an s3://bucket/key URI")
    return match["bucket"], match["key"] or ""


def _etag(body: bytes) -> str:
    # Same shape as S3's single-part ETag; md5 is an identifier here, not security.
    return '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'


def _check_conditions(
    key: str, current: bytes | None, *, if_match: str | None, if_none_match: bool
) -> None:
    """Refuse a write as S3 does when its condition fails (``current`` is the object now)."""
    if if_none_match and current is not None:
        raise PreconditionFailedError(f"{key} already exists")
    if if_match is not None:
        if current is None:
            raise ObjectNotFoundError(f"{key} does not exist")
        if _etag(current).strip('"') != if_match.strip('"'):
            raise PreconditionFailedError(f"{key} changed while it was being updated")


def _listed(key: str, prefix: str, *, recursive: bool) -> bool:
    # Without recursion, S3's "/" delimiter leaves out what lies in sub-folders.
    return key.startswith(prefix) and (recursive or "/" not in key[len(prefix) :])


class S3ObjectStore:
    """:class:`ObjectStore` over an injected boto3 S3 client."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    @property
    def bucket(self) -> str:
        return self._bucket

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Key": key, "Body": body}
        if content_type:
            kwargs["ContentType"] = content_type
        if if_match:
            kwargs["IfMatch"] = if_match
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        try:
            response = self._client.put_object(**kwargs)
        except ClientError as exc:
            raise self._error(exc, key) from exc
        return str(response.get("ETag", _etag(body)))

    def get(self, key: str) -> StoredObject:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
            body = response["Body"].read()
        except ClientError as exc:
            raise self._error(exc, key) from exc
        return StoredObject(key=key, body=body, etag=str(response.get("ETag", "")))

    def list(self, prefix: str, *, recursive: bool = True) -> list[ObjectInfo]:
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
        if not recursive:
            kwargs["Delimiter"] = "/"
        found: list[ObjectInfo] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(**kwargs):
                found.extend(
                    ObjectInfo(key=item["Key"], size=int(item["Size"]))
                    for item in page.get("Contents", [])
                )
        except ClientError as exc:
            raise self._error(exc, prefix) from exc
        return sorted(found, key=lambda info: info.key)

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            raise self._error(exc, key) from exc

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise self._error(exc, key) from exc
        return True

    def _error(self, exc: ClientError, key: str) -> StorageError:
        code = exc.response.get("Error", {}).get("Code", "")
        where = f"s3://{self._bucket}/{key}"
        if code in {"NoSuchKey", "404", "NotFound"}:
            return ObjectNotFoundError(f"{where} does not exist")
        if code in {"PreconditionFailed", "412", "ConditionalRequestConflict"}:
            return PreconditionFailedError(f"{where} changed while it was being updated")
        if code == "NoSuchBucket":
            return StorageError(f"bucket {self._bucket!r} does not exist (check s3_bucket)")
        return StorageError(f"S3 refused {where}: {code or exc}")


class MemoryObjectStore:
    """In-process :class:`ObjectStore` (tests, dry runs) with S3's semantics."""

    def __init__(self, bucket: str = "memory") -> None:
        self._bucket = bucket
        self._objects: dict[str, bytes] = {}

    @property
    def bucket(self) -> str:
        return self._bucket

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        _check_conditions(
            key, self._objects.get(key), if_match=if_match, if_none_match=if_none_match
        )
        self._objects[key] = bytes(body)
        return _etag(body)

    def get(self, key: str) -> StoredObject:
        try:
            body = self._objects[key]
        except KeyError as exc:
            raise ObjectNotFoundError(f"{key} does not exist") from exc
        return StoredObject(key=key, body=body, etag=_etag(body))

    def list(self, prefix: str, *, recursive: bool = True) -> list[ObjectInfo]:
        return [
            ObjectInfo(key=key, size=len(body))
            for key, body in sorted(self._objects.items())
            if _listed(key, prefix, recursive=recursive)
        ]

    def delete(self, key: str) -> None:
        self._objects.pop(key, None)

    def exists(self, key: str) -> bool:
        return key in self._objects


class FolderObjectStore:
    """:class:`ObjectStore` over a local folder whose files are named by their keys.

    ``run --local`` exports the emulated bucket as such a folder; this reads (and
    writes) it with S3's semantics, conditional writes included, so that the
    watermark functions work on it unchanged.
    """

    def __init__(self, root: Path, bucket: str) -> None:
        self._root = root
        self._bucket = bucket

    @property
    def bucket(self) -> str:
        return self._bucket

    def _path(self, key: str) -> Path:
        path = self._root / key
        if not path.resolve().is_relative_to(self._root.resolve()):
            raise KeyOutsideFolderError(f"object key {key!r} escapes {self._root}")
        return path

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        path = self._path(key)
        current = path.read_bytes() if path.is_file() else None
        _check_conditions(key, current, if_match=if_match, if_none_match=if_none_match)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        return _etag(body)

    def get(self, key: str) -> StoredObject:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFoundError(f"{key} does not exist in {self._root}")
        body = path.read_bytes()
        return StoredObject(key=key, body=body, etag=_etag(body))

    def list(self, prefix: str, *, recursive: bool = True) -> list[ObjectInfo]:
        if not self._root.is_dir():
            return []
        found = []
        for path in self._root.rglob("*"):
            if not path.is_file():
                continue
            key = path.relative_to(self._root).as_posix()
            if _listed(key, prefix, recursive=recursive):
                found.append(ObjectInfo(key=key, size=path.stat().st_size))
        return sorted(found, key=lambda info: info.key)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()
