"""Row updates of one database are written together (storage/row_batches.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from monostack.object.storage.row_batches import RowBatches

pytestmark = pytest.mark.asyncio


class Recorder:
    def __init__(self, fail_on: set[str] | None = None):
        self.batches: list[tuple[str, list[Any]]] = []
        self.fail_on = fail_on or set()
        self.tasks: set[asyncio.Task] = set()

    async def write(self, key: str, items: list[Any]) -> None:
        await asyncio.sleep(0.01)  # as a worker thread's turn would take
        self.batches.append((key, list(items)))
        if self.fail_on & set(items):
            raise OSError("disk full")

    def spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        return task


async def test_concurrent_updates_share_a_write() -> None:
    recorder = Recorder()
    batches = RowBatches(recorder.write, recorder.spawn)
    await asyncio.gather(*(batches.put("db1", f"row{i}") for i in range(20)),
                         *(batches.put("db2", f"other{i}") for i in range(5)))
    written = [item for key, items in recorder.batches if key == "db1" for item in items]
    assert sorted(written) == sorted(f"row{i}" for i in range(20))
    assert len([key for key, _ in recorder.batches if key == "db1"]) < 20  # not one write per row
    assert [item for key, items in recorder.batches if key == "db2" for item in items] == \
        [f"other{i}" for i in range(5)]  # another database's rows go to its own writes, in order


async def test_rows_arriving_during_a_write_go_in_the_next() -> None:
    recorder = Recorder()
    batches = RowBatches(recorder.write, recorder.spawn)
    first = asyncio.ensure_future(batches.put("db", "a"))
    await asyncio.sleep(0.005)  # the write of "a" is under way
    await asyncio.gather(first, batches.put("db", "b"), batches.put("db", "c"))
    assert recorder.batches == [("db", ["a"]), ("db", ["b", "c"])]


async def test_a_failed_write_fails_its_batch_only() -> None:
    recorder = Recorder(fail_on={"bad"})
    batches = RowBatches(recorder.write, recorder.spawn)
    results = await asyncio.gather(batches.put("db", "good"), batches.put("db", "bad"), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)  # written together: both fail
    await batches.put("db", "later")  # the next batch is written
    assert recorder.batches[-1] == ("db", ["later"])


async def test_a_caller_that_gives_up_keeps_its_row() -> None:
    recorder = Recorder()
    batches = RowBatches(recorder.write, recorder.spawn)
    task = asyncio.ensure_future(batches.put("db", "row"))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(*recorder.tasks)
    assert recorder.batches == [("db", ["row"])]
