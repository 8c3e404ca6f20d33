"""The blob-descriptor cache: stat of blob data and links from memory, forgotten on removal
by every process of the host (the shared generation), and dropped when a read finds nothing."""

from __future__ import annotations

import threading
import time

import pytest

from docker_registry.core.storage import PathNotFoundError, Storage
from docker_registry.core.storage.descriptors import DescriptorCache, HostGeneration
from docker_registry.core.storage.inmemory import InMemoryDriver
from docker_registry.core.v2 import layout
from docker_registry.core.v2.blobs import BlobStore
from docker_registry.core.v2.digests import parse_digest
from docker_registry.core.v2.errors import BlobUnknown

DIGEST = parse_digest("sha256:" + "ab" * 32)
DATA = layout.blob_data(DIGEST.algorithm, DIGEST.hex)
LINK = layout.layer_link("app", DIGEST.algorithm, DIGEST.hex)


class CountingDriver(InMemoryDriver):
    def __init__(self) -> None:
        super().__init__()
        self.stats: list[str] = []

    def stat(self, path):
        self.stats.append(path)
        return super().stat(path)


def cached_storage(driver, generation_file, capacity=100):
    storage = Storage(driver)
    storage.use_descriptors(
        DescriptorCache(
            cacheable=layout.is_descriptor,
            affects=layout.may_hold_descriptors,
            generation=HostGeneration(str(generation_file)),
            capacity=capacity,
        )
    )
    return storage


@pytest.fixture
def driver():
    return CountingDriver()


@pytest.fixture
def storage(driver, tmp_path):
    storage = cached_storage(driver, tmp_path / "generation")
    storage.put_content(DATA, b"layer bytes")
    BlobStore(storage).link("app", DIGEST)
    yield storage
    storage.close()


def test_a_blob_head_asks_storage_once(storage, driver):
    blobs = BlobStore(storage)
    first = blobs.stat("app", DIGEST)
    asked = len(driver.stats)
    for _ in range(5):
        assert blobs.stat("app", DIGEST).size == first.size == len(b"layer bytes")
    assert len(driver.stats) == asked == 2  # the link and the data, once each


def test_other_paths_and_misses_always_ask(storage, driver):
    other = layout.tag_current_link("app", "latest")
    storage.put_content(other, b"x")
    storage.stat(other)
    storage.stat(other)
    assert driver.stats.count(other) == 2
    missing = layout.blob_data("sha256", "cd" * 32)
    for _ in range(2):
        with pytest.raises(PathNotFoundError):
            storage.stat(missing)
    assert driver.stats.count(missing) == 2
    storage.put_content(missing, b"now here")  # a miss is never remembered
    assert storage.stat(missing).size == 8


def test_fresh_asks_storage_even_when_cached(storage, driver):
    storage.stat(DATA)
    storage.stat(DATA, fresh=True)
    assert driver.stats.count(DATA) == 2


def test_an_unlink_is_seen_at_once_by_another_process_of_the_host(driver, tmp_path, storage):
    # Two Storage objects on one generation file: two workers of `serve --workers 2`.
    other = cached_storage(driver, tmp_path / "generation")
    here, there = BlobStore(storage), BlobStore(other)
    assert there.stat("app", DIGEST).size == 11
    here.unlink("app", DIGEST)
    with pytest.raises(BlobUnknown):
        there.stat("app", DIGEST)
    other.close()


def test_a_gc_quarantine_is_seen_by_the_servers(driver, tmp_path, storage):
    from docker_registry.core.ops import gc_sweep

    blobs = BlobStore(storage)
    assert blobs.exists(DIGEST)
    collector = cached_storage(driver, tmp_path / "generation", capacity=0)
    assert gc_sweep.quarantine(collector, str(DIGEST))
    assert not blobs.exists(DIGEST)
    collector.close()


def test_removals_of_uploads_and_tags_keep_the_cache(storage, driver):
    storage.stat(DATA)
    storage.put_content(layout.upload_started_at("app", "u1"), b"t")
    storage.delete(layout.upload_dir("app", "u1"))
    storage.put_content(layout.tag_current_link("app", "v1"), b"d")
    storage.delete(layout.tag_dir("app", "v1"))
    asked = len(driver.stats)
    storage.stat(DATA)
    assert len(driver.stats) == asked


def test_a_read_that_finds_nothing_drops_the_entry(storage, driver):
    blobs = BlobStore(storage)
    handle = blobs.stat("app", DIGEST)
    driver.delete(DATA)  # removed behind the cache's back (no announcement reached us)
    with pytest.raises(BlobUnknown):
        blobs.reader(handle)
    with pytest.raises(BlobUnknown):
        blobs.stat("app", DIGEST)


def test_an_answer_read_before_a_removal_is_not_remembered(storage):
    cache = storage.descriptors
    assert cache is not None
    info = storage.driver.stat(DATA)
    stamp = cache.stamp()
    storage.delete(layout.layer_link_dir("app", DIGEST.algorithm, DIGEST.hex))
    cache.remember(DATA, info, stamp)
    assert cache.lookup(DATA) is None


def test_the_cache_is_bounded(driver, tmp_path):
    storage = cached_storage(driver, tmp_path / "generation", capacity=3)
    for index in range(6):
        path = layout.blob_data("sha256", f"{index:02x}" * 32)
        storage.put_content(path, b"x" * index)
        storage.stat(path)
    assert storage.descriptors is not None and len(storage.descriptors) == 3
    storage.close()


def test_concurrent_readers_never_see_a_blob_after_its_unlink_returned(storage):
    blobs = BlobStore(storage)
    unlinked = threading.Event()
    stale: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(300):
                done = unlinked.is_set()
                try:
                    blobs.stat("app", DIGEST)
                    if done:
                        stale.append(1)
                except BlobUnknown:
                    pass
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(6)]
    for thread in threads:
        thread.start()
    blobs.unlink("app", DIGEST)
    unlinked.set()
    for thread in threads:
        thread.join()
    assert errors == [] and stale == []
    with pytest.raises(BlobUnknown):
        blobs.stat("app", DIGEST)


@pytest.mark.parametrize(
    ("path", "descriptor", "holds"),
    [
        (DATA, True, True),
        (LINK, True, True),
        (layout.revision_link("app", "sha256", "ab" * 32), True, True),
        (layout.tag_current_link("app", "v1"), False, False),
        (layout.upload_dir("app", "u1"), False, False),
        (layout.repository("app"), False, True),
        (layout.repository("group/app"), False, True),
        (layout.quarantined_blob("sha256", "ab" * 32), False, False),
        ("/", False, True),
    ],
)
def test_which_paths_are_descriptors(path, descriptor, holds):
    assert layout.is_descriptor(path) is descriptor
    assert layout.may_hold_descriptors(path) is holds


# -- the shared tier (a fake here; plugins/redis/tests runs the real one) -----------------


class FakeShared:
    """A shared tier with the protocol's generations, in memory; ``down`` makes every
    call fail as an unreachable server does; ``calls`` records what was asked."""

    def __init__(self) -> None:
        self.generation = 0
        self.entries: dict[tuple[str, str], object] = {}
        self.down = False
        self.calls: list[str] = []

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.down:
            raise ConnectionError("shared tier unreachable")

    def lookup(self, path):
        self._call("lookup")
        generation = str(self.generation)
        return generation, self.entries.get((generation, path))

    def remember(self, path, info, generation):
        self._call("remember")
        self.entries[(generation, path)] = info

    def discard(self, path):
        self._call("discard")
        self.entries.pop((str(self.generation), path), None)

    def invalidate(self):
        self._call("invalidate")
        self.generation += 1

    def close(self):
        self.calls.append("close")


def shared_storage(driver, shared, generation_file, capacity=100, **options):
    storage = Storage(driver)
    storage.use_descriptors(
        DescriptorCache(
            cacheable=layout.is_descriptor,
            affects=layout.may_hold_descriptors,
            generation=HostGeneration(str(generation_file)),
            capacity=capacity,
            shared=shared,
            **options,
        )
    )
    return storage


@pytest.fixture
def shared():
    return FakeShared()


def test_a_cold_process_is_answered_by_the_shared_tier(driver, shared, tmp_path):
    warm = shared_storage(driver, shared, tmp_path / "a")
    warm.put_content(DATA, b"layer bytes")
    assert warm.stat(DATA).size == 11
    assert driver.stats == [DATA] and shared.calls == ["lookup", "remember"]
    cold = shared_storage(driver, shared, tmp_path / "b")
    for _ in range(3):
        assert cold.stat(DATA).size == 11
    assert driver.stats == [DATA]  # never asked again
    assert shared.calls == ["lookup", "remember", "lookup"]  # then the cold one's memory
    warm.close()
    cold.close()


def test_a_removal_moves_the_shared_generation_before_anything_else(driver, shared, tmp_path):
    order: list[str] = []
    storage = shared_storage(driver, shared, tmp_path / "g")
    cache = storage.descriptors
    assert cache is not None and cache.generation is not None
    shared.invalidate = lambda: order.append("shared")  # type: ignore[method-assign]
    cache.clear = lambda: order.append("memory")  # type: ignore[method-assign]
    cache.generation.bump = lambda: order.append("host")  # type: ignore[method-assign]
    cache._announce = lambda: order.append("other hosts")
    storage.put_content(DATA, b"x")
    storage.delete(DATA)
    assert order == ["shared", "memory", "host", "other hosts"]
    storage.close()


def test_an_answer_fetched_before_a_removal_is_kept_nowhere(driver, shared, tmp_path):
    storage = shared_storage(driver, shared, tmp_path / "g")
    cache = storage.descriptors
    assert cache is not None
    storage.put_content(DATA, b"layer bytes")
    found, stamp = cache.find(DATA)  # nothing anywhere: the store is asked next
    assert found is None and stamp.generation == "0"
    info = driver.stat(DATA)
    storage.delete(DATA)  # the removal lands between the store's answer and its keeping
    cache.remember(DATA, info, stamp)
    assert cache.lookup(DATA) is None
    assert shared.lookup(DATA) == ("1", None)  # kept under generation 0, read by nobody
    storage.close()


def test_a_new_shared_generation_empties_this_process(driver, shared, tmp_path):
    storage = shared_storage(driver, shared, tmp_path / "g")
    other = layout.blob_data("sha256", "cd" * 32)
    storage.put_content(DATA, b"1")
    storage.put_content(other, b"22")
    storage.stat(DATA)
    shared.invalidate()  # a removal elsewhere whose announcement never arrived
    storage.stat(other)  # this process's next miss sees the new generation
    assert storage.descriptors is not None and storage.descriptors.lookup(DATA) is None
    storage.close()


def test_garbage_collection_only_tells_the_shared_tier(driver, shared, tmp_path):
    storage = shared_storage(driver, shared, tmp_path / "g", capacity=0, ask_shared=False)
    storage.put_content(DATA, b"x")
    storage.stat(DATA)
    storage.stat(DATA)
    assert shared.calls == []
    storage.delete(DATA)
    assert shared.calls == ["invalidate"]
    storage.close()


def test_what_a_read_finds_missing_is_dropped_from_the_shared_tier(driver, shared, tmp_path):
    storage = shared_storage(driver, shared, tmp_path / "g")
    storage.put_content(DATA, b"x")
    storage.stat(DATA)
    driver.delete(DATA)  # behind the cache's back
    with pytest.raises(PathNotFoundError):
        storage.reader(DATA)
    assert shared.calls[-1] == "discard" and shared.entries == {}
    missing = layout.blob_data("sha256", "cd" * 32)
    shared.calls.clear()
    with pytest.raises(PathNotFoundError):
        storage.stat(missing)
    assert shared.calls == ["lookup"]  # it just said it had nothing: no discard
    storage.close()


def test_an_unreachable_shared_tier_costs_one_warning_and_fails_nothing(
    driver, shared, tmp_path, caplog
):
    storage = shared_storage(driver, shared, tmp_path / "g", capacity=0)
    cache = storage.descriptors
    assert cache is not None and cache.shared is not None
    cache.shared.retry_after = 0.05
    storage.put_content(DATA, b"x")
    shared.down = True
    with caplog.at_level("INFO", "docker_registry.core.storage.descriptors"):
        for _ in range(4):
            assert storage.stat(DATA).size == 1
            time.sleep(0.03)
        shared.calls.clear()
        assert storage.stat(DATA).size == 1
        assert shared.calls in ([], ["lookup"])  # skipped, or retried once per period
        shared.down = False
        time.sleep(0.06)
        storage.stat(DATA)
        storage.stat(DATA)
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "failed" in m]) == 1, messages
    assert "shared descriptor cache answers again" in messages
    assert shared.calls[-1] == "lookup" and shared.entries  # in use again
    storage.close()


def test_a_removal_the_shared_tier_missed_is_recorded_before_it_is_asked_again(
    driver, shared, tmp_path
):
    storage = shared_storage(driver, shared, tmp_path / "g", capacity=0)
    cache = storage.descriptors
    assert cache is not None and cache.shared is not None
    cache.shared.retry_after = 0.0
    storage.put_content(DATA, b"x")
    storage.stat(DATA)  # kept in the shared tier under generation 0
    shared.down = True
    storage.delete(DATA)  # answered although the shared tier did not hear of it
    assert cache.shared.owes_removal
    shared.down = False
    shared.calls.clear()
    with pytest.raises(PathNotFoundError):
        storage.stat(DATA)
    assert shared.calls[:2] == ["invalidate", "lookup"]  # settled first
    assert not cache.shared.owes_removal
    storage.close()


def test_a_removal_failing_while_another_is_settled_stays_owed(driver, shared, tmp_path):
    storage = shared_storage(driver, shared, tmp_path / "g", capacity=0)
    cache = storage.descriptors
    assert cache is not None and cache.shared is not None
    guard = cache.shared
    guard.retry_after = 0.0
    shared.down = True
    cache.forget(DATA)  # owed
    shared.down = False
    settle = shared.invalidate

    def settle_while_another_removal_fails() -> None:
        shared.invalidate = settle  # type: ignore[method-assign]
        settle()
        shared.down = True
        cache.forget(DATA)  # a second removal fails meanwhile
        shared.down = False

    shared.invalidate = settle_while_another_removal_fails  # type: ignore[method-assign]
    guard.retry_after = 0.2
    with pytest.raises(PathNotFoundError):
        storage.stat(DATA)
    assert guard.owes_removal and shared.calls.count("lookup") == 0  # not asked meanwhile
    time.sleep(0.25)
    with pytest.raises(PathNotFoundError):
        storage.stat(DATA)
    assert not guard.owes_removal and shared.calls[-1] == "lookup"
    storage.close()


def test_a_missed_removal_is_recorded_even_when_memory_answers(driver, shared, tmp_path):
    storage = shared_storage(driver, shared, tmp_path / "g")
    cache = storage.descriptors
    assert cache is not None and cache.shared is not None
    cache.shared.retry_after = 0.0
    other = layout.blob_data("sha256", "cd" * 32)
    storage.put_content(other, b"kept")
    storage.stat(other)  # in this process's memory from now on
    shared.down = True
    cache.forget(DATA)
    shared.down = False
    generation = shared.generation
    assert storage.stat(other).size == 4  # answered from memory...
    assert shared.generation == generation + 1  # ...after recording the removal
    assert not cache.shared.owes_removal
    storage.close()


def test_removals_while_the_tier_is_skipped_wait_for_one_settlement(driver, shared, tmp_path):
    storage = shared_storage(driver, shared, tmp_path / "g", capacity=0, ask_shared=False)
    cache = storage.descriptors
    assert cache is not None and cache.shared is not None
    shared.down = True
    for index in range(50):  # a garbage collection while Redis hangs
        cache.forget(layout.blob_data("sha256", f"{index:02x}" * 32))
    assert shared.calls.count("invalidate") == 1  # one timeout, not fifty
    assert cache.shared.owes_removal
    shared.down = False
    storage.close()  # the process ends: what is owed is recorded first
    assert shared.calls[-2:] == ["invalidate", "close"]
    assert shared.generation == 1


def test_a_removal_still_owed_at_the_end_is_an_error_in_the_log(driver, shared, tmp_path, caplog):
    storage = shared_storage(driver, shared, tmp_path / "g", capacity=0, ask_shared=False)
    cache = storage.descriptors
    assert cache is not None
    shared.down = True
    cache.forget(DATA)
    with caplog.at_level("ERROR", "docker_registry.core.storage.descriptors"):
        storage.close()
    assert "1 removal(s) could not be recorded" in caplog.text


def test_is_file_tells_files_from_directories_and_shares_the_cache(storage, driver):
    assert storage.is_file(DATA)
    asked = len(driver.stats)
    assert storage.is_file(DATA)
    assert len(driver.stats) == asked, "a known blob is answered from memory"
    assert not storage.is_file(layout.blob_data(DIGEST.algorithm, "cd" * 32))
    assert not storage.is_file(DATA.rsplit("/", 1)[0]), "a directory is no file"
    storage.delete(DATA)
    assert not storage.is_file(DATA)
    plain = Storage(InMemoryDriver())
    plain.put_content("/x/y", b"1")
    assert plain.is_file("/x/y")
    assert not plain.is_file("/x")
    assert not plain.is_file("/missing")
