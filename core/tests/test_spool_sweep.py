"""The spool sweep: leftovers of crashed requests go, live and young files stay."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from docker_registry.core.config import ConfigError, Settings
from docker_registry.core.spool import BodySpool
from docker_registry.core.spool_sweep import SpoolSweeper, sweep_spool_files

HOUR = 3600


def aged(path: Path, seconds: float, content: bytes = b"left by a crash") -> Path:
    path.write_bytes(content)
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_old_spool_and_staging_files_go_young_ones_stay(tmp_path):
    stale = [aged(tmp_path / ("a" * 32 + ".body"), 2 * HOUR), aged(tmp_path / "b.tmp", 2 * HOUR)]
    young = aged(tmp_path / "c.body", 50 * 60)
    other = aged(tmp_path / "notes.txt", 2 * HOUR)
    assert sweep_spool_files(str(tmp_path), time.time() - HOUR, dedicated=True) == 2
    assert not any(path.exists() for path in stale)
    assert young.exists() and other.exists()


def test_in_the_shared_temp_directory_only_the_spools_own_names_go(tmp_path):
    ours = aged(tmp_path / ("0123456789abcdef" * 2 + ".body"), 2 * HOUR)
    theirs = [aged(tmp_path / "x.body", 2 * HOUR), aged(tmp_path / ("f" * 32 + ".tmp"), 2 * HOUR)]
    assert sweep_spool_files(str(tmp_path), time.time() - HOUR, dedicated=False) == 1
    assert not ours.exists()
    assert all(path.exists() for path in theirs)


def test_a_body_this_process_is_receiving_is_never_swept(tmp_path):
    spool = BodySpool(str(tmp_path), 1024)
    spool.append(os.urandom(4096))
    (live,) = tmp_path.iterdir()
    then = time.time() - 10 * HOUR  # NOTE: as if its request had queued for ten hours
    os.utime(live, (then, then))
    assert SpoolSweeper(str(tmp_path), age=HOUR, interval=0).sweep() == 0
    assert live.exists()
    spool.close()


def test_a_missing_directory_is_nothing_to_sweep(tmp_path):
    assert sweep_spool_files(str(tmp_path / "never"), time.time(), dedicated=True) == 0


def test_age_zero_disables_sweeping(tmp_path):
    stale = aged(tmp_path / "d.body", 100 * HOUR)
    SpoolSweeper(str(tmp_path), age=0, interval=1).start()
    assert stale.exists()


def test_the_periodic_sweep_removes_what_goes_stale_later(tmp_path):
    sweeper = SpoolSweeper(str(tmp_path), age=HOUR, interval=0.05)
    sweeper.start()
    try:
        young = aged(tmp_path / "young.body", 0)
        stale = aged(tmp_path / "stale.body", 2 * HOUR)
        deadline = time.monotonic() + 5
        while stale.exists():
            assert time.monotonic() < deadline, "the periodic sweep did not run"
            time.sleep(0.05)
        assert young.exists()
    finally:
        sweeper.stop()


def test_sweep_settings_defaults_and_limits():
    defaults = Settings.from_mapping({})
    assert (defaults.spool_sweep_age, defaults.spool_sweep_interval) == (3600, 600)
    assert Settings.from_mapping({"spool_sweep_age": 0}).spool_sweep_age == 0
    assert Settings.from_mapping({"spool_sweep_age": "7200"}).spool_sweep_age == 7200
    with pytest.raises(ConfigError, match=r"spool_sweep_age.*at least 600"):
        Settings.from_mapping({"spool_sweep_age": 60})
    with pytest.raises(ConfigError, match="spool_sweep_interval"):
        Settings.from_mapping({"spool_sweep_interval": -1})
