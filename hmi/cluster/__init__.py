"""Several `hmi run` instances on one PostgreSQL database acting as one HMI (docs/deployment.md, the redundant pair).

`leadership.py` chooses the one active instance with a PostgreSQL advisory lock; the others stand by. `commands.py`
carries the alarm commands and writes given on a standby to the active instance.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from hmi.access.context import ActionContext
from hmi.records.signatures import Signer

Forward = Callable[[ActionContext, str, dict[str, Any], Signer | None], Awaitable[Any]]
"""How a service on a standby hands a command to the active instance: (person, kind, arguments, checked signer) ->
the active instance's result (hmi/cluster/commands.py `CommandChannel.send`)."""
