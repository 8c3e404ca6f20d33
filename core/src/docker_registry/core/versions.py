"""What is installed, with versions, for ``docker-registry --version``.

Read from package metadata only (no driver or plugin is imported), so the answer comes
even when an installed driver's own dependencies are broken.
"""

from __future__ import annotations

from importlib import metadata

#: The distribution that ships ``docker_registry.core``.
CORE_DISTRIBUTION = "registry-core"


def distribution_version(name: str) -> str:
    """The installed version of distribution ``name``, or ``"not installed"``.

    NOTE: each distribution's version is written once, in its pyproject.toml; the code
    reads it back from the installed metadata instead of repeating it.
    """
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _entry_points(group: str) -> list[tuple[str, str, str]]:
    found = []
    for entry in metadata.entry_points(group=group):
        dist = entry.dist
        name = dist.metadata["Name"] if dist else "?"
        found.append((entry.name, name, dist.version if dist else "?"))
    return sorted(set(found))


def version_report() -> str:
    """``docker-registry <core version>`` then each installed driver and plugin."""
    lines = [f"docker-registry {distribution_version(CORE_DISTRIBUTION)} ({CORE_DISTRIBUTION})"]
    for title, group in (
        ("storage drivers", "docker_registry.drivers"),
        ("plugins", "docker_registry.plugins"),
    ):
        lines.append(f"{title}:")
        lines += [f"  {name:<12} {dist} {version}" for name, dist, version in _entry_points(group)]
    return "\n".join(lines)
