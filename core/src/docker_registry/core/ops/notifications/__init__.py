"""Notifications: registry events POSTed to webhooks in CNCF distribution's envelope.

::

    request thread                          sender thread (one per endpoint)
    registry.emit(Event) ──► envelope.py ──► queue.py (files on disk) ──► sender.py ──► POST
                              to_events()    DiskQueue.put()               batch, backoff

* :mod:`.config`: the ``notifications`` section.
* :mod:`.envelope`: registry events in distribution's
  ``application/vnd.docker.distribution.events.v1+json`` shape.
* :mod:`.queue`: a bounded on-disk queue per endpoint that survives restarts (the oldest
  events go first when it is full, with a logged count).
* :mod:`.sender`: the delivery thread: batches, timeouts, retries with backoff.
* :mod:`.service`: wiring: the ``registry_event`` listener and start-up.

A request only writes its events to the queue's folder; it never waits for an endpoint
and never fails because of one (see docs/operations.md#notifications).
"""
