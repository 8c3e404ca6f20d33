"""The driver streams: writing and reading a large file never holds it in memory."""

import tracemalloc

from registry_sqlite import SQLiteDriver

from docker_registry.core.storage import CHUNK_SIZE

SIZE = 64 * CHUNK_SIZE


def test_a_large_file_is_written_and_read_in_chunks(tmp_path):
    driver = SQLiteDriver(sqlite_path=str(tmp_path / "registry.db"))
    chunk = bytes(range(256)) * (CHUNK_SIZE // 256)
    tracemalloc.start()
    try:
        with driver.writer("/layer") as writer:
            for _ in range(SIZE // CHUNK_SIZE):
                writer.write(chunk)
            writer.commit()
        total = 0
        with driver.reader("/layer") as stream:
            while piece := stream.read(CHUNK_SIZE):
                assert piece == chunk
                total += len(piece)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        driver.close()
    assert total == SIZE
    # NOTE: a few chunks in flight, never the 64 MiB file.
    assert peak < 8 * CHUNK_SIZE, f"peak {peak / CHUNK_SIZE:.1f} MiB while streaming 64 MiB"
