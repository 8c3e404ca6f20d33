"""The storage driver conformance suite: the tests every driver must pass.

Modelled on the Go registry's ``registry/storage/driver/testsuites``: the contract in
:mod:`docker_registry.core.storage.driver` is proved by behaviour, the same way for every
backend. A driver adopts the whole suite with one fixture and a one-line subclass::

    import pytest
    from docker_registry.drivers.file import FileDriver
    from docker_registry.testing.conformance import BaseDriverTests

    @pytest.fixture
    def driver(tmp_path):
        return FileDriver(storage_path=str(tmp_path / "root"))

    class TestFileDriver(BaseDriverTests):
        pass

The ``driver`` fixture returns a raw :class:`~docker_registry.core.storage.StorageDriver`
(not the :class:`~docker_registry.core.storage.Storage` wrapper); it may ``yield`` and check
backend-specific leftovers after the test. The groups (``BaseContentTests``,
``BaseReaderTests``...) can also be adopted one by one.

Every test works under its own prefix, the ``base`` fixture::

    /                                   the driver's root, possibly shared with other runs
    ├── conformance-<32 hex>/           this test's prefix (``base``)
    │   └── ...                         everything the test writes
    └── conformance-<32 hex>/           another test running at the same time (ignored)

After each test the cleanup check deletes ``base`` and fails the test when anything is
still there, or when the root listing changed (a driver left temporary files, staging
objects or escaped paths behind). Prefixes of other conformance runs are ignored in that
comparison, so that tests may share a bucket with parallel runs.

The suite is backend-agnostic: it only talks to the driver through the contract, assumes
no filesystem, and skips nothing. Optional behaviour is gated on the driver's declared
capabilities (a driver without :attr:`Capability.REDIRECT` must return ``None`` from
``redirect_url``), never skipped.
"""

from .behaviour import BaseConcurrencyTests, BasePathTests, BaseRedirectTests
from .content import (
    SLOW_ENV,
    BaseContentTests,
    BaseDeclarationTests,
    BaseLargeStreamTests,
    BaseReaderTests,
    BaseWriterTests,
)
from .fixtures import LARGE_SIZE, MIB, PREFIX_NAME, BaseDriverFixtures, make_data, read_all
from .namespace import (
    BaseDeleteTests,
    BaseListTests,
    BaseMoveTests,
    BaseStatTests,
    BaseWalkTests,
)


class BaseDriverTests(
    BaseDeclarationTests,
    BaseContentTests,
    BaseReaderTests,
    BaseWriterTests,
    BaseListTests,
    BaseWalkTests,
    BaseMoveTests,
    BaseDeleteTests,
    BaseStatTests,
    BaseConcurrencyTests,
    BasePathTests,
    BaseRedirectTests,
    BaseLargeStreamTests,
):
    """The whole conformance suite: adopt it with ``class TestMyDriver(BaseDriverTests)``."""


__all__ = [
    "LARGE_SIZE",
    "MIB",
    "PREFIX_NAME",
    "SLOW_ENV",
    "BaseConcurrencyTests",
    "BaseContentTests",
    "BaseDeclarationTests",
    "BaseDeleteTests",
    "BaseDriverFixtures",
    "BaseDriverTests",
    "BaseLargeStreamTests",
    "BaseListTests",
    "BaseMoveTests",
    "BasePathTests",
    "BaseReaderTests",
    "BaseRedirectTests",
    "BaseStatTests",
    "BaseWalkTests",
    "BaseWriterTests",
    "make_data",
    "read_all",
]
