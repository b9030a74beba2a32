"""streams._delivery on its own (pure logic, a fake producer): a record the broker refuses
becomes a bounded dead letter of its message and the batch goes on; what is not one
record's fault halts the batch; a planner failing on one message dead-letters only it.
The same on real Kafka: tests/streams/test_worker.py::test_an_oversized_event_*."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import errors as kafka_errors  # type: ignore[import-untyped]
from faust.exceptions import ProducerSendError
from sqlalchemy.exc import OperationalError

from connectors.kafka import replayable
from connectors.store import Store
from core.contracts import AvroCodec
from core.settings import Settings
from streams._delivery import EXCERPT_BYTES, Halt, process
from streams._pipeline import Failure, Pipeline, Record, Source, Step
from streams.parking import ParkingLot
from tests.support.messages import Message

DEAD_LETTER = "com.qbsync.pipeline.DeadLetter"


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    store = Store(f"sqlite:///{tmp_path / 'unused.db'}")
    try:
        yield Pipeline(Settings(data_dir=tmp_path), store, AvroCodec())
    finally:
        store.close()


class Broker:
    """Takes records; refuses those ``refuse`` picks, at send time or at delivery."""

    def __init__(self, refuse: Callable[[Record], BaseException | None], *, late: bool) -> None:
        self.refuse = refuse
        self.late = late
        self.acked: list[Record] = []

    async def produce(self, record: Record) -> asyncio.Future[None]:
        delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        error = self.refuse(record)
        if error is not None and not self.late:
            raise ProducerSendError(f"Error while sending: {error!r}") from error
        if error is not None:
            delivery.set_exception(error)
        else:
            self.acked.append(record)
            delivery.set_result(None)
        return delivery


async def inline(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)


def messages(*values: bytes) -> list[Message]:
    return [Message("qbsync.events", 2, 40 + n, b"t-1", v) for n, v in enumerate(values)]


def one_command_each(batch: list[Any]) -> list[Step]:
    return [Step(send=[("qbsync.commands.f", m.key, b"cmd:" + m.value)]) for m in batch]


def run(pipeline: Pipeline, batch: list[Message], broker: Broker, plan: Any = None) -> None:
    lot = ParkingLot({}, lambda *_: None)
    asyncio.run(process(batch, plan or one_command_each, pipeline, lot, broker.produce, inline))


@pytest.mark.parametrize("late", [False, True], ids=["at-send", "at-delivery"])
def test_a_refused_record_becomes_a_bounded_dead_letter_and_the_rest_go_on(
    pipeline: Pipeline, late: bool
) -> None:
    big = b"B" * (EXCERPT_BYTES * 3)

    def refuse(record: Record) -> BaseException | None:
        too_big = len(record[2]) > 100_000
        return kafka_errors.MessageSizeTooLargeError("over max_request_size") if too_big else None

    broker = Broker(refuse, late=late)
    run(pipeline, messages(b"one", big, b"three"), broker)

    commands = [value for topic, _, value in broker.acked if topic == "qbsync.commands.f"]
    assert commands == [b"cmd:one", b"cmd:three"]
    (letter,) = [
        pipeline.codec.decode(v)[1] for t, _, v in broker.acked if t == "qbsync.deadletters"
    ]
    assert letter["code"] == "unproducible"
    assert (letter["source_topic"], letter["source_partition"], letter["source_offset"]) == (
        "qbsync.events",
        2,
        41,
    )
    assert letter["original_value"] == big[:EXCERPT_BYTES]
    assert "MessageSizeTooLargeError" in letter["reason"]
    assert "offset 41" in letter["reason"]
    assert "smaller" in letter["remedy"]


def test_an_oversized_dead_letter_keeps_its_first_reason(pipeline: Pipeline) -> None:
    big = b"E" * 200_000

    def reject(batch: list[Any]) -> list[Step]:
        failure = Failure("rejected", "The email is longer than QuickBooks allows.")
        return [Step(send=[pipeline.dead_letter(Source.of(m), failure)]) for m in batch]

    broker = Broker(
        lambda r: kafka_errors.MessageSizeTooLargeError() if len(r[2]) > 100_000 else None,
        late=False,
    )
    run(pipeline, messages(big), broker, plan=reject)
    (letter,) = [pipeline.codec.decode(v)[1] for _, _, v in broker.acked]
    assert letter["code"] == "unproducible"
    assert "rejected: The email is longer than QuickBooks allows." in letter["reason"]
    assert len(letter["original_value"]) == EXCERPT_BYTES


@pytest.mark.parametrize("late", [False, True], ids=["at-send", "at-delivery"])
def test_a_broker_failure_halts_the_batch(pipeline: Pipeline, late: bool) -> None:
    broker = Broker(lambda r: kafka_errors.KafkaConnectionError("no route"), late=late)
    with pytest.raises(Halt, match="KafkaConnectionError"):
        run(pipeline, messages(b"one"), broker)


def test_a_dead_letter_the_broker_refuses_halts_the_batch(pipeline: Pipeline) -> None:
    def refuse(record: Record) -> BaseException | None:
        if record[0] == "qbsync.deadletters":
            return kafka_errors.KafkaTimeoutError()
        return kafka_errors.InvalidTopicError()

    with pytest.raises(Halt, match="dead letter"):
        run(pipeline, messages(b"one"), Broker(refuse, late=True))


def test_a_planner_failing_on_one_message_dead_letters_only_it(pipeline: Pipeline) -> None:
    def plan(batch: list[Any]) -> list[Step]:
        if any(m.value == b"poison" for m in batch):
            raise ValueError("a bug")
        return one_command_each(batch)

    broker = Broker(lambda r: None, late=False)
    run(pipeline, messages(b"one", b"poison", b"three"), broker, plan=plan)
    sent = [(t, v) for t, _, v in broker.acked]
    assert sent[0] == ("qbsync.commands.f", b"cmd:one")
    assert sent[2] == ("qbsync.commands.f", b"cmd:three")
    letter = pipeline.codec.decode(sent[1][1])[1]
    assert (letter["code"], letter["source_offset"]) == ("internal-error", 41)
    assert letter["original_value"] == b"poison"


def test_a_store_failure_halts_instead_of_dead_lettering(pipeline: Pipeline) -> None:
    def plan(batch: list[Any]) -> list[Step]:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    broker = Broker(lambda r: None, late=False)
    with pytest.raises(Halt):
        run(pipeline, messages(b"one"), broker, plan=plan)
    assert broker.acked == []


def test_unproducible_dead_letters_are_not_replayed() -> None:
    def letter(code: str, offset: int) -> dict[str, Any]:
        return {
            "code": code,
            "original_value": b"x",
            "source_topic": "qbsync.events",
            "source_partition": 0,
            "source_offset": offset,
        }

    chosen = replayable(
        [letter("unproducible", 1), letter("rejected", 2)], "qbsync.events", "qbsync.commands."
    )
    assert [c["source_offset"] for c in chosen] == [2]
