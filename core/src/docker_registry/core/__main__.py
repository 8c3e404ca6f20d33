"""``python -m docker_registry.core`` runs the ``docker-registry`` command line."""

import sys

from .cli import main

sys.exit(main())
