import pytest
from registry_sqlite import SQLiteDriver

from docker_registry.testing.conformance import BaseDriverTests


@pytest.fixture
def driver(tmp_path):
    driver = SQLiteDriver(sqlite_path=str(tmp_path / "registry.db"))
    yield driver
    driver.close()


class TestSQLiteDriver(BaseDriverTests):
    pass
