"""The worker's flows, each a pure planner handed everything it needs (what the pipeline
read from the store for its batch) that returns a complete :class:`Step`:

- :mod:`streams.flows.translate`: an event (or a parked one) to a command, a wait, a hold,
  a skip or a dead letter;
- :mod:`streams.flows.settle`: QuickBooks' result to a mapping, a retry, a dead letter or a
  stale reference forgotten;
- :mod:`streams.flows.reconcile`: records read back from QuickBooks to change events;
- :mod:`streams.flows.sweep`: the clock's due retries and expired waits.

:class:`streams._pipeline.Pipeline` reads the store before a flow plans and writes what the
step asks after; :mod:`streams._runner` carries the step out.
"""

from streams.flows._step import Failure, Message, Outbox, Record, Source, Step, Writes

__all__ = ["Failure", "Message", "Outbox", "Record", "Source", "Step", "Writes"]
