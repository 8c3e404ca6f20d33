"""registry-driver-s3: the ``s3`` storage driver (Amazon S3 and S3-compatible stores).

Also provides ``oss``: Aliyun OSS through its S3-compatible API, configured with the
seed's ``oss_*`` keys. See :mod:`docker_registry.drivers.s3.driver` for the key layout.
"""

from .driver import S3Driver
from .oss import OSSDriver
from .settings import S3Settings, key_prefix
from .writer import S3FileWriter

__all__ = ["OSSDriver", "S3Driver", "S3FileWriter", "S3Settings", "key_prefix"]
