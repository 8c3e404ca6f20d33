"""The v2 API as a plugin: mounts its routes through registry_routes."""
