"""StandX perps request auth (PROTOCOLS.md section 3): JWT bearer + ed25519 body signature.

Body signature headers: x-request-sign-version 'v1', x-request-id, x-request-timestamp (ms) and
x-request-signature = std base64(ed25519_sign(utf8("v1,{request_id},{timestamp},{payload}"))), where
payload is exactly the body text sent. The signing key is the ed25519 key whose base58 public key was
the `requestId` at prepare-signin. Pure code: the caller supplies timestamp and request id.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from nacl.signing import SigningKey

from mm_bot.venues.woofi_pro.auth import b58decode, b58encode

SIGN_VERSION = "v1"


def dumps_body(body: Any) -> str:
    """Compact JSON (the docs' JSON.stringify form); sign and send this exact text."""
    return json.dumps(body, separators=(",", ":"))


def signing_message(request_id: str, timestamp_ms: int, payload: str, version: str = SIGN_VERSION) -> str:
    return f"{version},{request_id},{int(timestamp_ms)},{payload}"


def _seed(key: str | bytes) -> bytes:
    """32-byte seed from raw bytes, 64-char hex, or base58 (32-byte seed or 64-byte seed+pubkey)."""
    if isinstance(key, bytes):
        raw = key
    else:
        text = key.strip()
        if text.startswith("ed25519:"):
            text = text[len("ed25519:") :]
        if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
            raw = bytes.fromhex(text)
        else:
            # UNVERIFIED: export format of the StandX "request signing key"; base58 assumed.
            raw = b58decode(text)
    if len(raw) not in (32, 64):
        raise ValueError(f"ed25519 key must be 32 (or 64) bytes, got {len(raw)}")
    return raw[:32]


class StandxSigner:
    """Holds the JWT and the request-signing ed25519 key; builds headers and WS frames."""

    def __init__(self, signing_key: str | bytes, token: str = "") -> None:
        self._key = SigningKey(_seed(signing_key))
        self.public_key = bytes(self._key.verify_key)
        self.token = token

    @property
    def request_id_key(self) -> str:
        """base58(public key): the `requestId` sent to prepare-signin."""
        return b58encode(self.public_key)

    def sign(self, request_id: str, timestamp_ms: int, payload: str) -> str:
        msg = signing_message(request_id, timestamp_ms, payload).encode("utf-8")
        return base64.b64encode(self._key.sign(msg).signature).decode("ascii")

    def bearer_headers(self) -> dict[str, str]:
        if not self.token:
            raise ValueError("no JWT: sign in first")
        return {"Authorization": f"Bearer {self.token}"}

    def body_headers(self, payload: str, timestamp_ms: int, request_id: str | None = None) -> dict[str, str]:
        """The four x-request-* headers for `payload` (a fresh uuid4 request id when none is given)."""
        rid = request_id or str(uuid.uuid4())
        return {
            "x-request-sign-version": SIGN_VERSION,
            "x-request-id": rid,
            "x-request-timestamp": str(int(timestamp_ms)),
            "x-request-signature": self.sign(rid, timestamp_ms, payload),
        }

    def signed_request(
        self,
        body: Any,
        timestamp_ms: int,
        request_id: str | None = None,
        session_id: str | None = None,
    ) -> tuple[str, dict[str, str]]:
        """(body text, headers) for a signed POST: JWT + body signature (+ x-session-id)."""
        text = dumps_body(body)
        headers = {"Content-Type": "application/json", **self.bearer_headers()}
        headers.update(self.body_headers(text, timestamp_ms, request_id))
        if session_id:
            headers["x-session-id"] = session_id
        return text, headers

    # ---------------------------------------------------------------- WS frames

    def stream_auth_frame(self, channels: list[str] | None = None) -> dict[str, Any]:
        """Market-stream auth: {"auth": {"token", "streams": [{"channel"}...]}}."""
        auth: dict[str, Any] = {"token": self.bearer_headers()["Authorization"][len("Bearer ") :]}
        if channels:
            auth["streams"] = [{"channel": c} for c in channels]
        return {"auth": auth}

    def ws_api_login_frame(self, session_id: str, request_id: str) -> dict[str, Any]:
        token = self.bearer_headers()["Authorization"][len("Bearer ") :]
        return {
            "session_id": session_id,
            "request_id": request_id,
            "method": "auth:login",
            "params": dumps_body({"token": token}),
        }

    def ws_api_frame(
        self, session_id: str, request_id: str, method: str, params: Any, timestamp_ms: int
    ) -> dict[str, Any]:
        """ws-api `order:new` / `order:cancel` frame; params is the HTTP body object, sent as a JSON string."""
        text = dumps_body(params)
        # UNVERIFIED: the ws-api header is assumed to sign the params string like the HTTP body.
        sig = self.sign(request_id, timestamp_ms, text)
        return {
            "session_id": session_id,
            "request_id": request_id,
            "method": method,
            "header": {
                "x-request-id": request_id,
                "x-request-timestamp": str(int(timestamp_ms)),
                "x-request-signature": sig,
            },
            "params": text,
        }
