"""Offset commits of every session, sent by one thread in as few requests as possible.

Why one request for many: every settled batch of a Web Connector session commits its
company file's offset, and all files' command topics share the gateway's one consumer group,
so one OffsetCommit can carry every file's partition. Committed one by one they were the
broker's most expensive request of a working session: 30% of its handler time per batch at
16 sessions (docs/performance.md, "The broker's requests per batch").

Why a thread of its own: a session's next batch does not need its last commit, only the
session's end does (the next session, on any replica, starts from the group's offset). So a
caller may hand its offset over and go on (``wait=False``: the gateway's settle, once the
broker acknowledged the batch's results), or wait for it (``wait=True``, and :meth:`flush`
for everything handed over for a partition: the gateway before a session's work ends; the
QuickBooks Online sender). Waited for, a round trip of 2-3 ms at one session and ~20 ms at
16 sat on every batch's path (docs/gateway-scale.md, "The offset commit off the batch's
path"). What arrives while a request is out goes in the next one, the newest offset per
partition.

Why commits nobody waits for linger: at one session a batch settled every ~9 ms, and each
sent its own OffsetCommit, the broker's most expensive request per batch (0.9 ms of its
handler time, against 0.5 for a Produce; docs/gateway-scale.md, "Fewer broker requests per
batch"). Nothing needs those commits soon: only the end of a session's work does, and it
waits (so its commit goes at once). So requests for commits nobody waits for are at least
``linger_s`` apart (default 0.1 s: at most ten a second from a gateway, however many
sessions); a commit waited for, a flush and closing send what is handed over at once. The
price is only after a crash: the group's offset may be behind by up to ``linger_s`` more of
batches, which the next session reads again and looks up before sending anything.

Nothing is committed that a caller did not hand over after its work was safe, so a crash
can only leave the group's offset behind, never ahead: the batches after it are read again
and recognised as re-sends (connectors.qbwc._recovery). A commit that fails is tried again
(newer offsets replace it) and, if waited for, its error raised to its callers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaException, TopicPartition

from core.processes import name_this_thread

__all__ = ["GroupCommit"]

log = logging.getLogger(__name__)

# Sends one OffsetCommit for the partitions given; returns them with per-partition errors.
CommitRequest = Callable[[list[TopicPartition]], Sequence[TopicPartition]]
# Told of each partition's offset once it is committed.
Committed = Callable[[str, int, int], None]

_Key = tuple[str, int]
_RETRY_S = 0.5  # after a failed request, before its partitions are sent again
_LINGER_S = 0.1  # between requests that carry only commits nobody waits for


@dataclass
class _Handed:
    offset: int
    ticket: int  # the order it was handed over in (offsets of a recreated topic go down)


class GroupCommit:
    """``commit(topic, partition, offset, wait=...)`` from any thread; see the module's doc."""

    def __init__(
        self,
        send: CommitRequest,
        *,
        committed: Committed | None = None,
        retry_s: float = _RETRY_S,
        linger_s: float = _LINGER_S,
    ) -> None:
        self._send = send
        self._committed = committed
        self._retry_s = retry_s
        self._linger_s = linger_s
        self._quiet_until = 0.0  # no request of unawaited commits before then
        self._urgent = 0  # callers waiting (a commit waited for, a flush)
        self._lingering = False  # the thread holds handed-over commits back (for tests)
        self._ready = threading.Condition()
        self._tickets = 0
        self._pending: dict[_Key, _Handed] = {}  # handed over, not yet in a request
        self._in_request: dict[_Key, _Handed] = {}  # in the request now out
        self._retry: dict[_Key, _Handed] = {}  # failed; sent again at _retry_at
        self._retry_at = 0.0
        # Per partition: the newest ticket committed, and the newest that failed (its error).
        self._done: dict[_Key, int] = {}
        self._failed: dict[_Key, tuple[int, BaseException]] = {}
        self._closing = False
        self.requests = 0  # OffsetCommit requests sent (for tests and benches)
        self._thread = threading.Thread(target=self._serve, name="qbsync-offset-commits")
        self._thread.daemon = True
        self._thread.start()

    @property
    def waiting(self) -> int:
        """Partitions handed over and not yet in a request."""
        with self._ready:
            return len(self._pending)

    @property
    def lingering(self) -> bool:
        """The thread is holding commits nobody waits for until ``linger_s`` has passed."""
        with self._ready:
            return self._lingering

    def commit(
        self, topic: str, partition: int, offset: int, *, wait: bool = True, timeout: float = 60.0
    ) -> None:
        """Hand ``offset`` over; with ``wait``, return once it is committed (or raise the
        request's error, or the partition's)."""
        key = (topic, partition)
        with self._ready:
            if self._closing:
                raise RuntimeError("the offset committer is closed")
            self._tickets += 1
            ticket = self._tickets
            self._pending[key] = _Handed(offset, ticket)
            self._retry.pop(key, None)  # a newer offset replaces one waiting to be retried
            self._ready.notify_all()
            if wait:
                self._wait(key, ticket, timeout)

    def flush(self, topic: str, partition: int, timeout: float = 60.0) -> None:
        """Return once every offset handed over for the partition so far is committed, or
        raise the error of its last attempt."""
        key = (topic, partition)
        with self._ready:
            retry = self._retry.pop(key, None)
            if retry is not None and key not in self._pending:
                # It failed and waits for its retry: try it now, and wait for that attempt.
                self._tickets += 1
                self._pending[key] = _Handed(retry.offset, self._tickets)
                self._ready.notify_all()
            newest = [
                handed.ticket
                for waiting in (self._pending, self._in_request)
                if (handed := waiting.get(key)) is not None
            ]
            if newest:
                self._wait(key, max(newest), timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Send what is handed over (one last try for a failed one), then stop the thread;
        all within ``timeout``. What is not committed leaves the group's offset behind,
        which loses nothing (see the module's doc)."""
        with self._ready:
            self._closing = True
            self._ready.notify_all()
        self._thread.join(timeout)

    def _wait(self, key: _Key, ticket: int, timeout: float) -> None:
        """Wait (holding the condition) until ``ticket`` is committed or has failed. While
        anyone waits, what is handed over is sent without lingering."""
        self._urgent += 1
        self._ready.notify_all()
        try:
            made = self._ready.wait_for(
                lambda: (
                    self._done.get(key, 0) >= ticket or self._failed.get(key, (0,))[0] >= ticket
                ),
                timeout,
            )
        finally:
            self._urgent -= 1
        if not made:
            raise TimeoutError(f"the offset commit of {key[0]} was not made within {timeout} s")
        if self._done.get(key, 0) < ticket:
            raise self._failed[key][1]

    # -- the thread -----------------------------------------------------------------------

    def _serve(self) -> None:
        name_this_thread("qbsync-commits")
        while True:
            with self._ready:
                batch = self._next_batch()
                if batch is None:
                    return
                self._in_request = batch
            failed = self._send_batch(batch)
            with self._ready:
                for key, handed in batch.items():
                    if key in failed:
                        self._failed[key] = (handed.ticket, failed[key])
                        if not self._closing and key not in self._pending:
                            self._retry[key] = handed
                            self._retry_at = time.monotonic() + self._retry_s
                    else:
                        self._done[key] = max(self._done.get(key, 0), handed.ticket)
                self._in_request = {}
                self._ready.notify_all()
            if failed:
                log.warning(
                    "offset commit failed",
                    extra={"partitions": len(failed), "error": _code(next(iter(failed.values())))},
                )
            if self._committed is not None:
                for key, handed in batch.items():
                    if key not in failed:
                        self._tell(key, handed.offset)

    def _tell(self, key: _Key, offset: int) -> None:
        """The ``committed`` callback; one that raises must not end the thread (every
        later commit would then wait in vain)."""
        try:
            if self._committed is not None:
                self._committed(key[0], key[1], offset)
        except Exception as error:
            log.warning("commit listener failed", extra={"error": type(error).__name__})

    def _next_batch(self) -> dict[_Key, _Handed] | None:
        """(Holding the condition.) What to send next, once there is any; None once closed
        with nothing left."""
        while True:
            now = time.monotonic()
            if self._retry and (self._closing or now >= self._retry_at):
                for key, handed in self._retry.items():
                    self._pending.setdefault(key, handed)
                self._retry = {}
            if self._pending and (self._closing or self._urgent or now >= self._quiet_until):
                batch, self._pending = self._pending, {}
                self._quiet_until = now + self._linger_s
                return batch
            if self._closing:
                return None
            wake = [self._retry_at] if self._retry else []
            if self._pending:
                wake.append(self._quiet_until)
            self._lingering = bool(self._pending)
            self._ready.wait(max(0.0, min(wake) - now) if wake else None)
            self._lingering = False

    def _send_batch(self, batch: dict[_Key, _Handed]) -> dict[_Key, BaseException]:
        """One request for ``batch``: each partition's error. librdkafka raises one
        partition's error for the whole request, though Kafka commits each partition on its
        own: then each partition is sent again alone (committing the same offset twice
        changes nothing), so that only its own callers get its error."""
        partitions = {key: TopicPartition(key[0], key[1], h.offset) for key, h in batch.items()}
        failed: dict[_Key, BaseException] = {}
        try:
            self._request(list(partitions.values()), failed)
        except KafkaException as exc:
            if len(partitions) == 1:
                return dict.fromkeys(partitions, exc)
            for key, tp in partitions.items():
                try:
                    self._request([tp], failed)
                except Exception as alone:
                    failed[key] = alone
        except Exception as exc:  # the request failed as a whole (a closed client ...)
            return dict.fromkeys(partitions, exc)
        return failed

    def _request(self, partitions: list[TopicPartition], failed: dict[_Key, BaseException]) -> None:
        """Send one OffsetCommit; errors the broker gave per partition go into ``failed``."""
        self.requests += 1
        for tp in self._send(partitions):
            if tp.error is not None:
                failed[(tp.topic, tp.partition)] = KafkaException(tp.error)


def _code(error: BaseException) -> str:
    if isinstance(error, KafkaException) and error.args:
        return str(error.args[0].name())
    return type(error).__name__
