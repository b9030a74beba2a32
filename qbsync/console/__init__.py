"""The support console and the bookkeeper's setup page (issue 18, docs/console.md).

Stack: Flask (with Jinja2, autoescaping) served by waitress, like the gateway. Why: it is a
small, widely maintained WSGI framework with server-rendered templates, so every page is
plain HTML forms that work without JavaScript (the setup page's live status is a
progressive enhancement: a few lines of script poll a JSON endpoint, and the page reloads
itself when scripts are off); the same pure-Python, threaded server as the gateway, no
build step, no client bundle. Its own process and port (``qbsync console``, and a child of
``qbsync run``): the Web Connector's gateway stays a thin protocol adapter whose latency no
support page can disturb, and the chart gives the console its own Deployment and Ingress.

Layers: this package is the shell. It reads the store and Kafka through ``connectors`` and
reuses the command line's logic (:mod:`qbsync.dead_letters`, :mod:`qbsync.mappings`,
:mod:`qbsync.sync_log`); nothing imports it but the CLI.
"""

from qbsync.console._app import Console, create_console
from qbsync.console._server import prefixed, serve_console

__all__ = ["Console", "create_console", "prefixed", "serve_console"]
