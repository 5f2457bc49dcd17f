"""The notify domain: the transactional outbox, delivery with retry and dead letters, channels.

Imports config, store, alerts and the root helpers only; never web or cli.
"""

from opsbook.notify.deliverer import Deliverer
from opsbook.notify.emitter import OutboxEmitter
from opsbook.notify.outbox import (
    Notification,
    Pending,
    enqueue,
    list_dead_letters,
    requeue,
)
from opsbook.notify.webhook import render_alertmanager_payload, sign

__all__ = [
    "Deliverer",
    "Notification",
    "OutboxEmitter",
    "Pending",
    "enqueue",
    "list_dead_letters",
    "render_alertmanager_payload",
    "requeue",
    "sign",
]
