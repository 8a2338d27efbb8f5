"""The S3 key prefixes the connector writes, derived from params.json as the runtime does."""

from __future__ import annotations

from typing import NamedTuple

from connector.config import Params

__all__ = ["KeyPrefixes", "key_prefixes"]

# The created bucket's name is unknown at synth; only the key part of the paths is used.
_BUCKET_STAND_IN = "connector-bucket-stand-in"


class KeyPrefixes(NamedTuple):
    """Key prefixes (each ending in '/') inside the data bucket."""

    root: str
    """Everything the connector owns: data, params.json, model state, anomalies."""
    historical: str
    live: str
    """The part of the per-interval folder template before its first placeholder."""


def key_prefixes(params: Params) -> KeyPrefixes:
    """Where the crawlers write, exactly as ``connector.sql.unload_target`` derives it."""
    located = (
        params if params.s3_bucket else params.model_copy(update={"s3_bucket": _BUCKET_STAND_IN})
    )
    return KeyPrefixes(
        root=f"{params.data_prefix}/",
        historical=_key(located.historical_path),
        live=_key(located.live_path_template.split("{{", 1)[0]),
    )


def _key(uri: str) -> str:
    key = uri.removeprefix("s3://").partition("/")[2]
    return key if key.endswith("/") else key.rsplit("/", 1)[0] + "/"
