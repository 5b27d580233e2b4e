"""Reading what the portal sent to the broker, through kombu, as a worker would receive it."""

from __future__ import annotations

from typing import Any

from kombu import Connection

from dr_portal.celery import app


def drain_task_messages(queue: str = "inference", url: str | None = None) -> list[tuple[str, list[object]]]:
    """Take every waiting message off a queue: (task name, positional arguments) in send order."""
    found: list[tuple[str, list[object]]] = []
    with Connection(url or app.conf.broker_url) as conn:
        simple = conn.SimpleQueue(queue)
        try:
            while True:
                try:
                    message = simple.get(timeout=0.2)
                except simple.Empty:
                    return found
                args = message.payload[0] if isinstance(message.payload, list) else message.payload.get("args")
                found.append((message.headers.get("task", ""), list(args)))
                message.ack()
        finally:
            simple.close()


def purge(*queues: str) -> None:
    """Empty the queues, and forget messages a killed worker left unacknowledged in an earlier test."""
    with app.connection_for_write() as conn:
        channel = _redis_channel(conn)
        for queue in queues or ("inference", "celery"):
            channel.queue_purge(queue)
        channel.client.delete(channel.unacked_key, channel.unacked_index_key)


def restore_unacked() -> int:
    """Hand back every unacknowledged message now, as Redis does once the visibility timeout has passed."""
    with app.connection_for_write() as conn:
        channel = _redis_channel(conn)
        tags = channel.client.hkeys(channel.unacked_key)
        for tag in tags:
            channel.qos.restore_by_tag(tag.decode() if isinstance(tag, bytes) else tag, channel.client)
        return len(tags)


def broker_idle(queue: str = "inference") -> bool:
    """Nothing waiting and nothing taken but unacknowledged: every delivered task has finished."""
    with app.connection_for_write() as conn:
        channel = _redis_channel(conn)
        return channel.client.llen(queue) == 0 and channel.client.hlen(channel.unacked_key) == 0


def queue_length(queue: str = "inference") -> int:
    """Messages waiting in the queue (not those a worker has taken)."""
    with app.connection_for_write() as conn:
        return int(_redis_channel(conn).client.llen(queue))


def _redis_channel(conn: Connection) -> Any:
    # The Redis transport's channel: its client, keys and qos are not on kombu's abstract channel type.
    return conn.default_channel
