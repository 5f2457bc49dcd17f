"""The notify domain: the transactional outbox, delivery with retry and dead letters, channels.

Imports config, store, alerts, incidents and the root helpers only; never web or cli.
"""

from opsbook.notify.deliverer import Deliverer
from opsbook.notify.emitter import OutboxEmitter
from opsbook.notify.incident_emitter import IncidentEmitter
from opsbook.notify.incident_render import render_incident
from opsbook.notify.outbox import (
    Notification,
    Pending,
    enqueue,
    list_dead_letters,
    requeue,
)
from opsbook.notify.render import Message
from opsbook.notify.webhook import render_alertmanager_payload, sign

__all__ = [
    "Deliverer",
    "IncidentEmitter",
    "Message",
    "Notification",
    "OutboxEmitter",
    "Pending",
    "enqueue",
    "list_dead_letters",
    "render_alertmanager_payload",
    "render_incident",
    "requeue",
    "sign",
]
