"""Wiring: turn registry events into queued envelope events, and start the senders."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from ...config import ConfigError
from ...hookspecs import Event, hookimpl
from ...registry import Registry
from ...request_context import current_request
from .config import NotificationSettings, notification_settings
from .envelope import to_events
from .queue import DiskQueue, Slot
from .sender import DeliveryObserver, Sender

log = logging.getLogger(__name__)

#: Key of the running :class:`Notifier` in ``registry.services``.
SERVICE_KEY = "notifications"


class Notifier:
    """Queues every event for the endpoints that want it; one :class:`~.sender.Sender`
    per endpoint delivers.

    :param config: the validated section.
    :param observer: told of every delivery, failure and drop (the metrics).
    :raises ConfigError: the queue folder cannot be created or locked.
    """

    def __init__(
        self, config: NotificationSettings, observer: DeliveryObserver | None = None
    ) -> None:
        self.config = config
        #: Identifies this process in every event (``source.instanceID``).
        self.instance_id = str(uuid.uuid4())
        try:
            self.slot = Slot(config.queue_path)
            queues = {
                endpoint.name: self.slot.queue(endpoint.name, config.queue_max_events)
                for endpoint in config.endpoints
            }
        except OSError as exc:
            raise ConfigError(
                f"cannot use the notification queue folder {config.queue_path}: {exc}; "
                "set notifications.queue_path to a writable local folder",
                key="notifications.queue_path",
            ) from None
        self.queues: dict[str, DiskQueue] = queues
        self.senders = [
            Sender(endpoint, queues[endpoint.name], observer) for endpoint in config.endpoints
        ]

    def start(self) -> None:
        for sender in self.senders:
            sender.start()
        log.info(
            "notifications: sending to %s; undelivered events wait in %s",
            ", ".join(f"{e.name} ({e.url})" for e in self.config.endpoints),
            self.slot.folder,
        )

    def stop(self) -> None:
        """Stop the senders and free the slot (queued events stay for the next start)."""
        for sender in self.senders:
            sender.stop()
        self.slot.close()

    def notify(self, event: Event) -> None:
        """Queue ``event`` for every endpoint that wants it. Never raises: a request
        must not fail because notifications cannot be queued."""
        try:
            source = {"addr": self.config.source_addr, "instanceID": self.instance_id}
            envelope_events = to_events(event, current_request(), source)
            for sender in self.senders:
                wanted = [e for e in envelope_events if sender.endpoint.wants(e)]
                if not wanted:
                    continue
                dropped_before = sender.queue.dropped
                for envelope_event in wanted:
                    sender.queue.put(envelope_event)
                sender.observe("overflowed", sender.queue.dropped - dropped_before)
                sender.wake()
        except Exception as exc:  # noqa: BLE001 (the request succeeded; say what was lost)
            log.error(
                "notifications: %s %s of %s (%s) not queued: %s: %s",
                event.api,
                event.kind,
                event.repository,
                event.reference or event.tag or "-",
                type(exc).__name__,
                exc,
            )


class NotificationListener:
    """The ``registry_event`` plugin feeding a :class:`Notifier`."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    @hookimpl
    def registry_event(self, event: Event, registry: Any) -> None:
        self.notifier.notify(event)


def start_notifications(
    registry: Registry, observer: DeliveryObserver | None = None
) -> Notifier | None:
    """Start delivering to the configured endpoints (``None`` when there are none); the
    senders stop when the registry does (:meth:`~..registry.Registry.stop`).

    :raises ConfigError: the section is invalid, or its queue folder unusable.
    """
    config = notification_settings(registry.settings, registry.storage.spool_directory)
    if config is None:
        return None
    notifier = Notifier(config, observer)
    registry.plugins.register(NotificationListener(notifier), name=f"notifications-{id(notifier)}")
    registry.services[SERVICE_KEY] = notifier
    registry.on_stop.append(notifier.stop)
    notifier.start()
    return notifier
