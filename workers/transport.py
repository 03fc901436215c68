"""The Redis transport with one change: an entry of the queue list that is no kombu message
(not JSON, or JSON of another shape) is dead-lettered instead of raised.

kombu pops the entry (BRPOP) and decodes it inside the worker's event loop; an entry it cannot
decode raised out of the loop and stopped the worker ("Unrecoverable error"), for every such
entry pushed by anyone who can write to the broker. Here the raw entry goes to `<queue>.dead`
(`workers.deadletter`) and the worker goes on. What a valid envelope carries is checked one
level up, by `workers.consumer`.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str

from workers import deadletter


def envelope_problem(item: Any) -> str | None:
    """Why `item` (a decoded queue entry) is not a message kombu can deliver, or None."""
    if not isinstance(item, dict):
        return f"a queue entry that is JSON {type(item).__name__}, not a message envelope"
    props = item.get("properties")
    if not isinstance(props, dict) or not isinstance(props.get("delivery_info"), dict) or "delivery_tag" not in props:
        return "a message envelope without properties.delivery_info and properties.delivery_tag"
    if not isinstance(item.get("body"), str) or not isinstance(item.get("headers", {}), dict):
        return "a message envelope whose body is not a string or whose headers are not an object"
    if props.get("body_encoding") == "base64":
        try:
            base64.b64decode(item["body"], validate=True)
        except (binascii.Error, ValueError):
            return "a message envelope whose base64 body does not decode"
    return None


class Channel(kombu_redis.Channel):
    def _decode_entry(self, raw: bytes | str, queue: str) -> dict[str, Any] | None:
        """The entry as kombu's message dict, or None once a bad one is dead-lettered."""
        text = bytes_to_str(raw)
        item: Any = None
        try:
            item = json.loads(text)
        except ValueError as exc:
            problem: str | None = f"a queue entry that is not JSON ({exc})"
        else:
            problem = envelope_problem(item)
        if problem is None:
            return item
        headers = item.get("headers") if isinstance(item, dict) else None
        letter = deadletter.record(problem, queue, body=raw if isinstance(raw, bytes) else raw.encode(),
                                   headers=headers)
        deadletter.send(self, queue, letter)
        return None

    def _brpop_read(self, **options: Any) -> bool:
        """kombu's `_brpop_read`, the entry decoded by `_decode_entry`."""
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if not dest__item:
                raise kombu_redis.Empty()
            dest, raw = dest__item
            dest = bytes_to_str(dest).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            item = self._decode_entry(raw, dest)
            if item is None:
                raise kombu_redis.Empty()
            self.connection._deliver(item, dest)
            return True
        finally:
            self._in_poll = None
            flush = getattr(self, "_flush_brpop_reauth", None)
            if flush is not None:
                flush()

    def _get(self, queue: str) -> dict[str, Any]:
        with self.conn_or_acquire() as client:
            for pri in self.priority_steps:
                raw = client.rpop(self._q_for_pri(queue, pri))
                if raw:
                    self._maybe_update_queues_expire(client, queue)
                    item = self._decode_entry(raw, queue)
                    if item is None:
                        raise kombu_redis.Empty()
                    return item
            self._maybe_update_queues_expire(client, queue)
            raise kombu_redis.Empty()


class Transport(kombu_redis.Transport):
    Channel = Channel


__all__ = ["Channel", "Transport", "envelope_problem"]
