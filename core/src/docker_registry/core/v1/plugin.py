"""The v1 API as a plugin: mounts its routes through registry_routes."""
