"""Orderly (WOOFi Pro) request signing: ed25519 over timestamp + METHOD + path?query + body.

See PROTOCOLS.md section 2.2. The signature is computed over exactly the bytes that are sent, so the
helpers here build the query string and the JSON body together with the headers. Pure code: the caller
passes the timestamp (injected clock) and sends the request itself.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

from nacl.signing import SigningKey

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(B58_ALPHABET)}
KEY_PREFIX = "ed25519:"
CONTENT_TYPE_JSON = "application/json;charset=utf-8"
CONTENT_TYPE_FORM = "application/x-www-form-urlencoded;charset=utf-8"
_BODY_METHODS = frozenset({"POST", "PUT"})
_QUERY_FORBIDDEN = set(" &=?#%+\"'\\")


def b58encode(data: bytes) -> str:
    """Bitcoin-alphabet base58 of `data` (each leading zero byte becomes '1')."""
    n = int.from_bytes(data, "big")
    out: list[str] = []
    while n:
        n, r = divmod(n, 58)
        out.append(B58_ALPHABET[r])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    """Inverse of b58encode; ValueError on a character outside the alphabet."""
    n = 0
    for ch in text:
        try:
            n = n * 58 + _B58_INDEX[ch]
        except KeyError:
            raise ValueError(f"invalid base58 character {ch!r}") from None
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + body


def _strip_prefix(text: str) -> str:
    text = text.strip()
    return text[len(KEY_PREFIX) :] if text.startswith(KEY_PREFIX) else text


def seed_from_secret(secret: str) -> bytes:
    """32-byte ed25519 seed of an Orderly secret `ed25519:<base58>` (prefix optional).

    Like the official connector, the first 32 bytes of the decoded value are used (a 64-byte
    seed+pubkey encoding therefore works too).
    """
    raw = b58decode(_strip_prefix(secret))
    if len(raw) < 32:
        raise ValueError(f"orderly secret decodes to {len(raw)} bytes, need at least 32")
    return raw[:32]


def encode_key(public_key: bytes) -> str:
    """The orderly-key header value: 'ed25519:' + base58(32-byte public key)."""
    if len(public_key) != 32:
        raise ValueError("ed25519 public key must be 32 bytes")
    return KEY_PREFIX + b58encode(public_key)


def b64(sig: bytes, urlsafe: bool) -> str:
    return (base64.urlsafe_b64encode(sig) if urlsafe else base64.b64encode(sig)).decode("ascii")


def query_string(params: Iterable[tuple[str, Any]] | Mapping[str, Any]) -> str:
    """k=v joined by '&' in the given order, without URL-encoding (as the official connector builds it).

    Values are rendered with str() (bools as 'true'/'false'); a character that would need
    URL-encoding raises ValueError instead of producing a query the server would sign differently.
    """
    items = params.items() if isinstance(params, Mapping) else params
    parts: list[str] = []
    for key, value in items:
        if value is None:
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if set(text) & _QUERY_FORBIDDEN or set(key) & _QUERY_FORBIDDEN:
            raise ValueError(f"query parameter {key}={text!r} needs URL-encoding")
        parts.append(f"{key}={text}")
    return "&".join(parts)


def path_with_query(path: str, params: Iterable[tuple[str, Any]] | Mapping[str, Any] | None = None) -> str:
    qs = query_string(params) if params else ""
    return f"{path}?{qs}" if qs else path


def dumps_body(body: Any, compact: bool = False) -> str:
    """JSON body text. Default separators match the official connector (`json.dumps(body)`)."""
    if compact:
        return json.dumps(body, separators=(",", ":"))
    return json.dumps(body)


def signing_message(timestamp_ms: int, method: str, path_query: str, body: str = "") -> str:
    """str(timestamp) + METHOD + path?query + body (body omitted when empty)."""
    return f"{int(timestamp_ms)}{method.upper()}{path_query}{body or ''}"


class OrderlySigner:
    """Signs Orderly REST requests and the private-WS auth frame for one account and key."""

    def __init__(self, account_id: str, secret: str | bytes) -> None:
        seed = secret if isinstance(secret, bytes) else seed_from_secret(secret)
        if len(seed) != 32:
            raise ValueError("ed25519 seed must be 32 bytes")
        self.account_id = account_id
        self._key = SigningKey(seed)
        self.public_key = bytes(self._key.verify_key)
        self.orderly_key = encode_key(self.public_key)

    def sign_bytes(self, message: str | bytes) -> bytes:
        data = message.encode("utf-8") if isinstance(message, str) else message
        return self._key.sign(data).signature

    def sign(self, message: str | bytes, urlsafe: bool = True) -> str:
        """Signature of `message`: base64url by default (docs); urlsafe=False gives the connector's std base64."""
        return b64(self.sign_bytes(message), urlsafe)

    def headers(
        self, timestamp_ms: int, method: str, path_query: str, body: str = "", urlsafe: bool = True
    ) -> dict[str, str]:
        """The five request headers for a request sent with exactly `path_query` and `body`."""
        method = method.upper()
        sig = self.sign(signing_message(timestamp_ms, method, path_query, body), urlsafe)
        return {
            "orderly-timestamp": str(int(timestamp_ms)),
            "orderly-account-id": self.account_id,
            "orderly-key": self.orderly_key,
            "orderly-signature": sig,
            "Content-Type": CONTENT_TYPE_JSON if method in _BODY_METHODS else CONTENT_TYPE_FORM,
        }

    def request(
        self,
        timestamp_ms: int,
        method: str,
        path: str,
        params: Iterable[tuple[str, Any]] | Mapping[str, Any] | None = None,
        body: Any = None,
        urlsafe: bool = True,
        compact: bool = False,
    ) -> tuple[str, str, dict[str, str]]:
        """(path?query, body text, headers) ready to send; the body text is what was signed."""
        method = method.upper()
        pq = path_with_query(path, params)
        text = "" if body is None else dumps_body(body, compact)
        if text and method not in _BODY_METHODS:
            raise ValueError(f"{method} carries its parameters in the query string, not a body")
        return pq, text, self.headers(timestamp_ms, method, pq, text, urlsafe)

    def ws_auth_params(self, timestamp_ms: int, urlsafe: bool = True) -> dict[str, Any]:
        """params of the private-WS auth frame: the timestamp string alone is signed."""
        return {
            "orderly_key": self.orderly_key,
            "sign": self.sign(str(int(timestamp_ms)), urlsafe),
            "timestamp": int(timestamp_ms),
        }

    def ws_auth_frame(self, frame_id: str, timestamp_ms: int, urlsafe: bool = True) -> dict[str, Any]:
        return {"id": frame_id, "event": "auth", "params": self.ws_auth_params(timestamp_ms, urlsafe)}
