"""The stream processor: Faust agents that turn domain events into qbXML commands, one
topic per QuickBooks company file, and fold the gateway's results back into the mappings.

- ``streams.translate`` (and ``streams.rules``): pure functions, event + context -> command,
  wait, skip or rejection.
- ``streams._pipeline``: the worker's steps (decode, look up, plan, settle) returning a Step.
- ``streams._runner``: carrying a Step out in the event loop (produce, park, release).
- ``streams.parking``: the parking lot over a Faust table.
- ``streams.app``: the Faust app factory and its thin agents.
- ``streams.sensor``: Prometheus metrics, attached as a Faust sensor.
"""

from streams.app import create_app

__all__ = ["create_app"]
