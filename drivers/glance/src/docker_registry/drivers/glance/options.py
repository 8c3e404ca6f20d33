"""The options of the ``glance`` driver, and those it passes through to its alternate.

The core's factory hands a driver only the options it declares, so the glance driver
also declares the keys of the alternate drivers it supports (``file``: ``storage_path``;
``swift``: the ``swift_*`` keys) without defaults: the alternate applies its own.
"""

from __future__ import annotations

from docker_registry.core.storage import DriverOption

GLANCE_OPTIONS = (
    DriverOption(
        "storage_alternate", str, default="file", help="driver of non-layer paths: file, swift"
    ),
    DriverOption("storage_path", str, default="/tmp/registry", help="root of the alternate driver"),
    DriverOption("glance_endpoint", str, help="Glance URL without Keystone (env OS_GLANCE_URL)"),
    DriverOption("glance_token", str, secret=True, help="token to send (env OS_AUTH_TOKEN)"),
    DriverOption("os_auth_url", str, help="Keystone URL, .../v3 or .../v2.0 (env OS_AUTH_URL)"),
    DriverOption("os_username", str, help="Keystone user (env OS_USERNAME)"),
    DriverOption("os_password", str, secret=True, help="Keystone password (env OS_PASSWORD)"),
    DriverOption("os_tenant_name", str, help="Keystone tenant/project (env OS_TENANT_NAME)"),
    DriverOption("os_region_name", str, help="region of the image endpoint (env OS_REGION_NAME)"),
    DriverOption("glance_namespace", str, help="image property value isolating this registry"),
    DriverOption("glance_timeout", float, default=60.0, help="seconds per Glance request"),
)

#: Keys of the ``swift`` driver (``storage_alternate: swift``), passed through untouched.
PASSTHROUGH_OPTIONS = (
    DriverOption("swift_authurl", str),
    DriverOption("swift_container", str),
    DriverOption("swift_user", str),
    DriverOption("swift_password", str, secret=True),
    DriverOption("swift_tenant_name", str),
    DriverOption("swift_region_name", str),
    DriverOption("swift_auth_version", str),
    DriverOption("swift_user_domain_name", str),
    DriverOption("swift_project_name", str),
    DriverOption("swift_project_domain_name", str),
    DriverOption("swift_storage_url", str),
    DriverOption("swift_auth_token", str, secret=True),
    DriverOption("swift_temp_url_key", str, secret=True),
    DriverOption("swift_temp_url_expires", int),
    DriverOption("swift_segment_size", int),
    DriverOption("swift_segment_container", str),
    DriverOption("swift_listing_limit", int),
    DriverOption("swift_create_container", bool),
    DriverOption("swift_retries", int),
    DriverOption("swift_timeout", float),
    DriverOption("swift_read_piece_size", int),
    DriverOption("swift_read_pieces", int),
)
