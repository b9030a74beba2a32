"""The stream processor: Faust agents that turn domain events into qbXML commands, one
topic per QuickBooks company file, and fold the gateway's results back into the mappings.

- ``streams.translate`` (and ``streams.rules``): pure functions, event + context -> command,
  wait, skip or rejection.
- ``streams.flows``: the worker's flows (translate, settle, reconcile, sweep), pure planners
  each returning a complete Step.
- ``streams._pipeline``: the Pipeline: reads the store for a batch, plans, writes after.
- ``streams._runner``: carrying a Step out in the event loop (produce, park, release).
- ``streams.two_way``: QuickBooks' changes back to the apps (shapes, news, matching).
- ``streams.parking``: the parking lot over a Faust table.
- ``streams.app``: the Faust app factory and its thin agents.
- ``streams.sensor``: Prometheus metrics, attached as a Faust sensor.
"""

from streams.app import WorkerProcess, create_app

__all__ = ["WorkerProcess", "create_app"]
