"""qbsync's shell: the ``qbsync`` command line, the demo, the local runtime and the support
console, on top of the worker (``streams``), the adapters (``connectors``) and the bottom
layer (``core``). See ``docs/architecture.md`` for the code map.
"""

from core import __version__

__all__ = ["__version__"]
