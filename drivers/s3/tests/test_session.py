"""The driver's boto3 session keeps only the endpoint data S3 uses, with the same answers."""

from __future__ import annotations

import urllib.parse

import boto3
import pytest

from docker_registry.drivers.s3.session import SERVICES_KEPT, s3_session
from docker_registry.drivers.s3.testing import ACCESS_KEY, SECRET_KEY
from docker_registry.testing.cli import modules_of_an_app

#: One region of each partition botocore knows, and a region of the default partition
#: that endpoints.json need not list by name.
REGIONS = ["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1", "us-iso-east-1", "xx-new-1"]


def _answers(session: boto3.session.Session, service: str) -> tuple[str, str, list[str]]:
    client = session.client(service)
    url = client.meta.endpoint_url
    if service != "s3":
        return url, client.meta.region_name, []
    signed = urllib.parse.urlsplit(
        client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    )
    query = urllib.parse.parse_qs(signed.query)
    # NOTE: the signing scheme botocore picks per region shows in the names; the
    # credential's scope (region, service) is compared without its date.
    scope = query.get("X-Amz-Credential", ["-"])[0].split("/")[2:]
    return url, signed.netloc, sorted(query) + scope


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("service", ["s3", "sts"])
def test_clients_resolve_as_with_botocores_whole_data(region: str, service: str) -> None:
    credentials = {
        "aws_access_key_id": "k",
        "aws_secret_access_key": "s",
        "region_name": region,
    }
    lean = _answers(s3_session(**credentials), service)
    assert lean == _answers(boto3.session.Session(**credentials), service)


def test_the_loader_keeps_only_the_services_s3_uses() -> None:
    session = s3_session(aws_access_key_id="k", aws_secret_access_key="s")
    session.client("s3", region_name="us-east-1")
    endpoints = session._session.get_component("data_loader").load_data("endpoints")
    partitions = endpoints["partitions"]
    assert {partition["partition"] for partition in partitions} >= {"aws", "aws-cn"}
    for partition in partitions:
        assert set(partition["services"]) <= SERVICES_KEPT
        assert partition["regions"], "a partition's own data stays"
    assert "s3" in partitions[0]["services"]


def test_a_worker_without_cloudfront_never_loads_cryptography(s3_url: str, bucket: str) -> None:
    """cryptography (and the bcrypt it pulls in, ~8 MiB) is for CloudFront signing only."""
    modules = modules_of_an_app(
        {
            "storage": "s3",
            "s3_endpoint_url": s3_url,
            "s3_bucket": bucket,
            "s3_access_key": ACCESS_KEY,
            "s3_secret_key": SECRET_KEY,
            "s3_region": "us-east-1",
        }
    )
    assert "boto3" in modules, "the application was built on the s3 driver"
    assert {"cryptography", "bcrypt"}.isdisjoint(modules)
