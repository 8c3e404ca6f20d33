"""The configuration keys the ``s3`` and ``oss`` drivers declare (see :mod:`.settings`)."""

from __future__ import annotations

from docker_registry.core.storage import DriverOption
from docker_registry.core.storage.pieces import read_piece_options

COMMON_OPTIONS = (
    DriverOption(
        "storage_path",
        str,
        default="/registry",
        help="key prefix inside the bucket (leading/trailing '/' ignored; '/' = bucket root)",
    ),
    DriverOption(
        "s3_part_size",
        int,
        default=16 * 1024 * 1024,
        help="bytes per multipart part, 5 MiB to 5 GiB; also the largest single PUT",
    ),
    *read_piece_options("s3_read_piece_size", "s3_read_pieces"),
)

S3_OPTIONS: tuple[DriverOption, ...] = (
    DriverOption("s3_bucket", str, help="bucket holding the registry"),
    DriverOption("boto_bucket", str, help="bucket (the seed's key; wins over s3_bucket)"),
    DriverOption("s3_access_key", str, help="access key id (default: AWS credential chain)"),
    DriverOption("s3_secret_key", str, secret=True, help="secret access key"),
    DriverOption("s3_region", str, help="AWS region of the bucket (us-east-1 if unset)"),
    DriverOption("s3_encrypt", bool, default=False, help="server-side encryption (AES256)"),
    DriverOption("s3_secure", bool, default=True, help="HTTPS to boto_host (false: HTTP)"),
    DriverOption("s3_use_sigv4", bool, help="false: legacy SigV2 signing (old Ceph RGW)"),
    DriverOption("s3_endpoint_url", str, help="full endpoint URL; wins over boto_host"),
    DriverOption("boto_host", str, help="host of an S3-compatible store"),
    DriverOption("boto_port", int, help="port of boto_host"),
    DriverOption(
        "boto_calling_format",
        str,
        help="OrdinaryCallingFormat = path-style URLs, SubdomainCallingFormat = virtual",
    ),
    DriverOption("boto_debug", bool, default=False, help="log every botocore request"),
    DriverOption("boto_proxy", str, help="HTTP proxy host (or URL)"),
    DriverOption("boto_proxy_port", int, help="HTTP proxy port"),
    DriverOption("boto_proxy_user", str, help="HTTP proxy user"),
    DriverOption("boto_proxy_pass", str, secret=True, help="HTTP proxy password"),
    DriverOption(
        "cloudfront",
        dict,
        help="{base, keyid, keysecret}: storage_redirect sends clients to CloudFront signed URLs",
    ),
    *COMMON_OPTIONS,
)
