"""Browser connections engine.io has dropped without telling NiceGUI, let go so their pages are deleted.

NiceGUI (3.18) registers a page's socket with its Client inside python-socketio's connect handler (the implicit
handshake). python-socketio (5.18) marks the connection connected only after that handler, once the CONNECT reply has
been sent; engine.io checks the ping timeout in that send (2 s after a ping unanswered, as NiceGUI sets it) and may
close the socket right there. That close happens while the connection is still pending, so python-socketio reports no
disconnect for it: the Client keeps a socket that no longer exists, counts as connected, and is never deleted, neither
after the reconnect timeout nor by NiceGUI's pruning of clients that never connected. Its `on_delete` handlers never
run, so the page's live feed (screens.widgets.LiveFeed) stays subscribed to the tag cache and the whole page stays in
memory. An overloaded panel server hits this: the soak benchmark (bench/soak.py) left one such page.

Every few seconds each connection python-socketio still lists is checked against the engine.io sessions; one whose
session is gone is disconnected through python-socketio, which calls NiceGUI's disconnect handler as for any other
browser that went away (the client is deleted after its reconnect timeout unless it has reconnected meanwhile).
"""

from __future__ import annotations

import logging

from nicegui import app, core

log = logging.getLogger(__name__)

# NiceGUI's namespace (its sockets all use the default one).
NAMESPACE = "/"
# As often as NiceGUI prunes its clients: a leaked page is let go within a sweep plus the reconnect timeout.
SWEEP_S = 10.0


def dead_sockets() -> list[str]:
    """The Socket.IO ids python-socketio holds as connected whose engine.io session has closed or is gone."""
    sessions, manager = core.sio.eio.sockets, core.sio.manager
    dead = []
    for sid, eio_sid in manager.get_participants(NAMESPACE, None):
        session = sessions.get(eio_sid)
        # A connection still pending is skipped: its connect handler is running, or it failed before NiceGUI's
        # handshake (python-socketio keeps those, and would not disconnect them anyway).
        if (session is None or session.closed) and manager.is_connected(sid, NAMESPACE):
            dead.append(str(sid))
    return dead


async def drop_dead_sockets() -> None:
    """Disconnect the dead sockets as python-socketio would have (NiceGUI's disconnect handler runs for each)."""
    for sid in dead_sockets():
        log.info("socket %s closed without a disconnect: letting its page go", sid)
        await core.sio.disconnect(sid, namespace=NAMESPACE)


def watch() -> None:
    """Sweep for dead sockets while the app runs (an app-wide timer, not bound to any page)."""
    app.timer(SWEEP_S, drop_dead_sockets)
