"""The boto3 session behind the driver's client, holding only the endpoint data S3 uses.

botocore's ``endpoints.json`` describes every AWS service in every partition: parsed,
about 6.7 MiB of objects, kept for the life of the session, although an S3 client asks
it about S3 only (and, while finding credentials, STS and SSO). Every worker holds one
session, so its loader keeps those services' entries and each partition's own data
(regions, DNS suffixes, defaults): the same endpoints and signing regions for S3 in
every partition, about 5 MiB less per worker.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
import botocore.session
from botocore.loaders import JSONFileLoader

#: The services whose endpoint entries an S3 client (and its credential providers) reads.
SERVICES_KEPT = frozenset({"s3", "sts", "sso", "sso-oidc"})


class _EndpointsForS3(JSONFileLoader):
    """Loads model files as botocore does; ``endpoints`` keeps :data:`SERVICES_KEPT`."""

    def load_file(self, file_path: str) -> Any:
        data = super().load_file(file_path)
        if os.path.basename(file_path) == "endpoints" and isinstance(data, dict):
            partitions = data.get("partitions")
            if isinstance(partitions, list):
                data["partitions"] = [_kept(partition) for partition in partitions]
        return data


def _kept(partition: Any) -> Any:
    if not isinstance(partition, dict) or not isinstance(partition.get("services"), dict):
        return partition
    services = partition["services"]
    kept = {name: services[name] for name in SERVICES_KEPT & set(services)}
    return {**partition, "services": kept}


def s3_session(**credentials: Any) -> boto3.session.Session:
    """A boto3 session (``credentials``: its keyword arguments) whose loader keeps only
    the endpoint data of :data:`SERVICES_KEPT`; ``AWS_DATA_PATH`` is honoured as usual."""
    core = botocore.session.Session()
    core.get_component("data_loader").file_loader = _EndpointsForS3()
    return boto3.session.Session(botocore_session=core, **credentials)
