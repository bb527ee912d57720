"""The single batched writer: records in, batched transactions out.

Quoting never waits on the disk: the core's records go onto an in-memory queue and
one writer (a task in the live shell, a buffer in the replay shell) writes them in
batched transactions. A failed batch is kept and retried, so a DB fault delays rows
but never drops a fill. Each record class maps to one INSERT built from its fields.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import defaultdict
from dataclasses import fields
from functools import cache
from operator import attrgetter

from mm_bot.core.records import Record
from mm_bot.live.aio import wait_event

log = logging.getLogger("mm_bot.store")


@cache
def insert_sql(cls: type) -> str:
    """INSERT statement for a record class (columns are the dataclass fields)."""
    cols = [f.name for f in fields(cls)]
    marks = ",".join("?" * len(cols))
    return f"INSERT INTO {cls.TABLE} ({','.join(cols)}) VALUES ({marks}) {cls.CONFLICT}".rstrip()


@cache
def row_getter(cls: type):
    """Record -> tuple of its field values in column order.

    Records hold scalars only, so this equals dataclasses.astuple (which deep-copies
    every field and costs ~10x more per row).
    """
    names = [f.name for f in fields(cls)]
    if len(names) == 1:
        get = attrgetter(names[0])
        return lambda rec: (get(rec),)
    return attrgetter(*names)


def group_rows(batch: list[Record]) -> dict[type, list[tuple]]:
    """Rows grouped by record class, in arrival order within each class."""
    groups: dict[type, list] = defaultdict(list)
    for rec in batch:
        groups[type(rec)].append(rec)
    return {cls: list(map(row_getter(cls), recs)) for cls, recs in groups.items()}


def write_batch(conn: sqlite3.Connection, batch: list[Record]) -> None:
    """Write records in one transaction (synchronous sqlite3)."""
    with conn:
        for cls, rows in group_rows(batch).items():
            conn.executemany(insert_sql(cls), rows)


async def write_batch_async(conn, batch: list[Record]) -> None:
    """Write records in one transaction on an aiosqlite connection."""
    try:
        for cls, rows in group_rows(batch).items():
            await conn.executemany(insert_sql(cls), rows)
        await conn.commit()
    except BaseException:
        await conn.rollback()
        raise


class SyncWriter:
    """Buffered writer for the synchronous replay shell: flushes every `batch` records."""

    def __init__(self, conn: sqlite3.Connection, batch: int = 5000) -> None:
        self.conn = conn
        self.batch = batch
        self.buf: list[Record] = []
        self.rows_written = 0

    def put(self, rec: Record) -> None:
        self.buf.append(rec)
        if len(self.buf) >= self.batch:
            self.flush()

    def put_many(self, recs: list[Record]) -> None:
        self.buf.extend(recs)
        if len(self.buf) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            write_batch(self.conn, self.buf)
            self.rows_written += len(self.buf)
            self.buf = []


class AsyncWriter:
    """The one writer task per process, on an aiosqlite connection (its own thread).

    `put` never blocks. The task drains the queue every `interval_s` (or sooner when
    `max_batch` records wait) and writes them in one transaction off the event loop.
    A failing batch is retried with back-off until it lands or the writer is closed
    with `close()`, which makes a last attempt and raises if rows could not be written.
    """

    def __init__(self, conn, interval_s: float = 0.2, max_batch: int = 20000) -> None:
        self.conn = conn
        self.interval_s = interval_s
        self.max_batch = max_batch
        self.queue: list[Record] = []
        self.rows_written = 0
        self.failures = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="db-writer")

    def put(self, rec: Record) -> None:
        self.queue.append(rec)
        if len(self.queue) >= self.max_batch:
            self._wake.set()

    def put_many(self, recs: list[Record]) -> None:
        self.queue.extend(recs)
        if len(self.queue) >= self.max_batch:
            self._wake.set()

    async def _flush_once(self) -> None:
        if not self.queue:
            return
        batch, self.queue = self.queue, []
        try:
            await write_batch_async(self.conn, batch)
            self.rows_written += len(batch)
        except sqlite3.Error as e:
            # Keep the rows, in order, ahead of anything queued meanwhile.
            self.queue = batch + self.queue
            self.failures += 1
            log.error("DB write of %d rows failed (%s); will retry", len(batch), e)
            raise

    async def _run(self) -> None:
        backoff = self.interval_s
        while not self._closing:
            await wait_event(self._wake, backoff)
            self._wake.clear()
            try:
                await self._flush_once()
                backoff = self.interval_s
            except sqlite3.Error:
                backoff = min(backoff * 2, 5.0)

    async def close(self) -> None:
        """Stop the task and write everything still queued."""
        self._closing = True
        self._wake.set()
        if self._task:
            await self._task
        for attempt in range(5):
            try:
                await self._flush_once()
                return
            except sqlite3.Error:
                await asyncio.sleep(0.2 * (attempt + 1))
        await self._flush_once()


async def open_async_writer(db_path: str):
    """The asyncio shells' DB connection (project PRAGMAs applied) and its started writer task."""
    import aiosqlite

    from mm_bot.store.db import pragma_statements

    conn = await aiosqlite.connect(db_path)
    for stmt in pragma_statements():
        await conn.execute(stmt)
    writer = AsyncWriter(conn)
    writer.start()
    return conn, writer
