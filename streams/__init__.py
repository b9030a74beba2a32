"""The stream processor: Faust agents that turn domain events into qbXML commands, one
topic per QuickBooks company file, and fold the gateway's results back into the mappings.

- ``streams.translate``: pure functions, event + context -> command or rejection.
- ``streams.app``: the Faust app factory and its thin agents.
- ``streams.sensor``: Prometheus metrics, attached as a Faust sensor.
"""

from streams.app import create_app

__all__ = ["create_app"]
