"""The ``oss`` driver: Aliyun OSS through its S3-compatible API, with the seed's keys.

The seed's ``oss`` flavor (``oss_host``, ``oss_bucket``, ``oss_accessid``,
``oss_accesskey``) used the community ``alioss`` package; OSS also speaks the S3 API, so
the ``s3`` driver serves it with the mapping of :func:`.settings.oss_settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from docker_registry.core.storage import DriverOption

from .driver import S3Driver
from .options import COMMON_OPTIONS
from .settings import S3Settings, oss_settings, with_defaults


class OSSDriver(S3Driver):
    """Aliyun OSS through its S3-compatible API, configured with the seed's ``oss_*`` keys."""

    name = "oss"
    options: ClassVar[tuple[DriverOption, ...]] = (
        DriverOption(
            "oss_host", str, default="oss.aliyuncs.com", help="OSS endpoint host (or URL)"
        ),
        DriverOption("oss_bucket", str, required=True, help="bucket holding the registry"),
        DriverOption("oss_accessid", str, help="AccessKey ID"),
        DriverOption("oss_accesskey", str, secret=True, help="AccessKey secret"),
        *COMMON_OPTIONS,
    )

    @classmethod
    def build_settings(cls, values: Mapping[str, Any]) -> S3Settings:
        return oss_settings(with_defaults(cls.options, values))
