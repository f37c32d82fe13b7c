"""Group commit: one writer thread per process writes whatever requests are waiting in one transaction.

Each caller submits an item and waits on its own future. The writer takes everything queued (up to
`max_batch`), writes it through `write` in one transaction, and resolves the futures only after the
commit: so many requests share one commit (one fsync, one lock acquisition) and none is answered before
it is durable. A caller that cancelled its future before its batch began is left out of it. If a batch
fails as a whole (a database error), its items are written again one by one, so one bad item cannot
fail the others; an item that fails alone gets the error.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)


@dataclass
class Counters:
    """How many batches and items were committed (the batch size shows how much commits are shared)."""

    batches: int = 0
    items: int = 0


class GroupCommit(Generic[T, R]):
    """A single writer thread that commits queued items in batches; `submit` returns each item's future."""

    def __init__(self, engine: Engine, write: Callable[[Connection, Sequence[T]], Sequence[R | Exception]],
                 committed: Callable[[Sequence[T], Sequence[R | Exception]], None], max_batch: int = 512) -> None:
        self.engine, self.write, self.committed, self.max_batch = engine, write, committed, max_batch
        self.counters = Counters()
        self._queue: queue.SimpleQueue[tuple[T, Future[R]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="hub-writer", daemon=True)
        self._closed = False
        self._thread.start()

    def submit(self, item: T) -> Future[R]:
        """Queue an item; its future resolves once the transaction holding it committed."""
        if self._closed:
            raise RuntimeError("the writer is closed")
        future: Future[R] = Future()
        self._queue.put((item, future))
        return future

    def close(self, timeout: float = 30) -> None:
        """Write what is queued, then stop the thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: list[tuple[T, Future[R]]]) -> None:
        # A caller that gave up (cancelled) before its batch began got no answer and will send again.
        self._write([(item, future) for item, future in batch if future.set_running_or_notify_cancel()])

    def _write(self, batch: list[tuple[T, Future[R]]]) -> None:
        if not batch:
            return
        items = [item for item, _ in batch]
        try:
            with self.engine.begin() as connection:
                outcomes = self.write(connection, items)
        except Exception as exc:
            if len(batch) > 1:
                log.warning("a batch of %d failed (%s); writing its items one by one", len(batch), exc)
                for one in batch:
                    self._write([one])
            else:
                batch[0][1].set_exception(exc)
            return
        self.counters.batches += 1
        self.counters.items += len(batch)
        try:
            self.committed(items, outcomes)
        except Exception:  # a follow-up (the directive cycle's trigger) must never withhold committed receipts
            log.exception("after-commit hook failed")
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
