"""aidgate's client side: a small library of the management API and the ``aidgate`` command.

Nothing here imports the gateway's Django packages: the client runs anywhere ``requests``
and ``cryptography`` do (``docs/cli.md``).
"""

from __future__ import annotations

__version__ = "0.1.0"
