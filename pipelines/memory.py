"""What a long run does so that its memory stays the size of one checkpoint load.

A first load of a big account is many loads of `checkpoint.rows` rows each; each load's
memory is freed when it ends, but allocators keep freed memory for reuse, and the peaks of
successive loads land in different places, so the process grows with the number of loads
unless freed memory goes back to the system:
- Arrow's buffers (the rows the sources hand to dlt) use the C library's allocator, not
  mimalloc: mimalloc kept ~50 MiB more at 100,000 Twilio executions;
- after each load the C library's allocator returns its free memory (`malloc_trim`, glibc
  only; elsewhere nothing happens);
- the C library keeps two allocation arenas, not one per thread up to 8 per core
  (`few_arenas`): what the sources' threads freed stayed spread over their arenas, and a
  first load of 300,000 Twilio executions grew 354 -> 513 MiB over 25 loads (363 -> 442
  with two);
- the C library's allocator gives blocks of 128 KiB and more their own mapping, returned
  when freed (`fixed_mmap_threshold`): by default glibc raises that threshold (up to
  32 MiB) each time such a block is freed, and the response bodies and Arrow buffers of
  every page then came from the heap, whose freed memory a load's trim finds scattered:
  at the end of each extract of a 300,000-execution Twilio load the heap held 75-120 MiB
  free (4-12 with the threshold fixed), and the process peaked at 429 MiB instead of 384;
- DuckDB returns its own (jemalloc's background threads: `DUCKDB_OPTIONS`), and its cache
  is capped by `destination.duckdb.load_memory_limit` while loading, where dlt's load
  jobs run one at a time (`warehouse.duckdb`);
- the warehouse keeps each pipeline's newest stored state, not one per load
  (`warehouse.stored_state`).

Measured by `python -m benchmarks.memory`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging

log = logging.getLogger("flowsync.memory")

# DuckDB settings for the warehouse connection (besides memory_limit)
DUCKDB_OPTIONS = {"allocator_background_threads": "true"}


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


@functools.cache
def lean_arrow() -> None:
    """Arrow allocates from the C library's allocator from now on (once per process)."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


M_ARENA_MAX = -8  # glibc's mallopt parameter
ARENAS = 2


@functools.cache
def few_arenas() -> None:
    """The C library's allocator keeps `ARENAS` arenas from now on (once per process,
    before the sources start their threads; glibc only, elsewhere nothing happens)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_ARENA_MAX, ARENAS)


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD = 128 * 1024  # glibc's initial value, no longer raised


@functools.cache
def fixed_mmap_threshold() -> None:
    """Blocks of `MMAP_THRESHOLD` bytes and more get their own mapping from now on, given
    back when freed (once per process; glibc only, elsewhere nothing happens)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def release() -> None:
    """Returns the memory freed by a finished load to the system, where the C library can."""
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
