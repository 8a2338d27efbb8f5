"""The object store port: the S3 adapter (over moto) and the in-memory fake agree."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from connector.storage import (
    MemoryObjectStore,
    ObjectNotFoundError,
    ObjectStore,
    PreconditionFailedError,
    S3ObjectStore,
    StorageError,
    parse_s3_uri,
)

BUCKET = "test-bucket"


@pytest.fixture(params=["s3", "memory"])
def store(request: pytest.FixtureRequest) -> Iterator[ObjectStore]:
    if request.param == "memory":
        yield MemoryObjectStore(BUCKET)
        return
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield S3ObjectStore(client, BUCKET)


def test_put_get_roundtrip(store: ObjectStore) -> None:
    # Given an object written
    etag = store.put("a/b.txt", b"hello", content_type="text/plain")
    # When it is read back
    got = store.get("a/b.txt")
    # Then body and ETag match
    assert got.body == b"hello"
    assert got.etag.strip('"') == etag.strip('"')
    assert store.bucket == BUCKET


def test_get_missing_raises_not_found(store: ObjectStore) -> None:
    # Given an empty bucket / When a missing key is read / Then a domain error names it
    with pytest.raises(ObjectNotFoundError, match=r"missing\.json"):
        store.get("missing.json")
    assert not store.exists("missing.json")


def test_list_recursive_and_direct_children(store: ObjectStore) -> None:
    # Given files directly under a prefix and in a sub-folder
    for key in ["hist/b.csv", "hist/a.csv", "hist/sub/c.csv", "other/d.csv"]:
        store.put(key, b"x" * 3)
    # When listed recursively or not
    deep = [info.key for info in store.list("hist/")]
    direct = [info.key for info in store.list("hist/", recursive=False)]
    # Then sub-folders are skipped only when asked, and keys are sorted
    assert deep == ["hist/a.csv", "hist/b.csv", "hist/sub/c.csv"]
    assert direct == ["hist/a.csv", "hist/b.csv"]
    assert store.list("hist/")[0].size == 3


def test_delete_and_exists(store: ObjectStore) -> None:
    # Given an object
    store.put("k", b"v")
    assert store.exists("k")
    # When deleted (twice: deleting an absent key is fine)
    store.delete("k")
    store.delete("k")
    # Then it is gone
    assert not store.exists("k")


def test_conditional_put_if_none_match(store: ObjectStore) -> None:
    # Given a first writer created the key
    store.put("pointer.json", b"1", if_none_match=True)
    # When a second writer tries to create it too
    # Then it loses instead of overwriting
    with pytest.raises(PreconditionFailedError):
        store.put("pointer.json", b"2", if_none_match=True)
    assert store.get("pointer.json").body == b"1"


def test_conditional_put_if_match(store: ObjectStore) -> None:
    # Given a reader holding the ETag of version 1
    etag = store.put("pointer.json", b"1")
    # When someone else writes version 2 first
    store.put("pointer.json", b"2", if_match=etag)
    # Then a write conditional on the stale ETag fails
    with pytest.raises(PreconditionFailedError):
        store.put("pointer.json", b"3", if_match=etag)
    assert store.get("pointer.json").body == b"2"


def test_s3_missing_bucket_is_a_clear_error() -> None:
    # Given a client and a bucket that does not exist
    with mock_aws():
        store = S3ObjectStore(boto3.client("s3", region_name="us-east-1"), "nope-bucket")
        # When written / Then the message names the bucket
        with pytest.raises(StorageError, match="nope-bucket"):
            store.put("k", b"v")


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket-1/prefix/live/", ("bucket-1", "prefix/live/")),
        ("s3://bucket-1", ("bucket-1", "")),
    ],
)
def test_parse_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected


def test_parse_s3_uri_rejects_other_schemes() -> None:
    with pytest.raises(StorageError, match="not an s3"):
        parse_s3_uri("https://bucket/key")
