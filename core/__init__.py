"""The bottom layer: what every other package may import, and which imports none of them.

- ``core.errors``: the base exception and exit codes.
- ``core.settings``: typed settings (``QBSYNC_*``), secrets as ``SecretStr``.
- ``core.contracts``: the Avro event contracts (``schemas/avro``), their codec and validator,
  and the publisher for upstream services.
- ``core.messages``: the pipeline's own messages (command, result, dead letter, imported
  record) as frozen typed records, each with its schema name and codec.
- ``core.status``: qbsync's own status codes beside QuickBooks' (one enum).
- ``core.conflicts``: who wins when a record changed on both sides (one pure rule).
- ``core.processes``, ``core.ports``, ``core.build_info``: child processes, the free ports their
  servers bind, and build metrics.

Layers, top to bottom (``tests/test_layers.py`` checks every import goes downward):
``qbsync`` (CLI, demo, runtime, console) → ``streams`` (the worker) → ``connectors`` (qbXML,
store, Kafka, the Web Connector gateway, QuickBooks Online, the sandboxes) → ``core``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
