"""qbsync: keep business apps and QuickBooks Desktop in sync, on Kafka.

Packages, in the order data flows through them:

- ``qbsync.contracts``: the Avro event contracts and their codec (``schemas/avro``).
- ``streams``: the Faust worker that turns events into per-company-file qbXML commands.
- ``connectors.qbwc``: the Web Connector gateway that serves those commands to QuickBooks.
- ``connectors.sandbox``: a simulated company file and Web Connector.
- ``connectors.store``: tenants, profiles, id mappings and sessions (SQLAlchemy + Alembic).
- ``connectors.kafka``: Kafka clients, admin and the broker harness.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
