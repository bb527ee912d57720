"""Errors every venue adapter raises. Their text never carries a secret: it is built from the
venue's reply, the URL path and the exception type, never from keys, signatures or bodies."""

from __future__ import annotations


class VenueError(Exception):
    """Something about the venue failed: transport, HTTP status, an unreadable reply."""


class WireError(VenueError, ValueError):
    """A venue message could not be read. `message_type` names it (topic, channel or endpoint)."""

    def __init__(self, message_type: str, detail: str) -> None:
        super().__init__(f"{message_type}: {detail}")
        self.message_type = message_type
        self.detail = detail


class RestError(VenueError):
    """A REST call failed (transport, HTTP status, error body). status is the HTTP status (0: none)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class RateLimited(RestError):
    """HTTP 429 or a rate-limit error from the venue."""


class GatewayError(VenueError):
    """A live start cannot proceed: bad key or address, unknown coin, refused configuration."""
