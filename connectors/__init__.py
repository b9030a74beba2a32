"""Adapters to everything outside the stream processor.

- ``connectors.qbxml``: build qbXML requests and parse QuickBooks' responses.
- ``connectors.qbwc``: the QuickBooks Web Connector gateway (SOAP over HTTP).
- ``connectors.sandbox``: a simulated company file and Web Connector.
- ``connectors.store``: the database (tenants, profiles, id mappings, sessions).
- ``connectors.kafka``: Kafka clients and the broker harness.
"""

__all__: list[str] = []
