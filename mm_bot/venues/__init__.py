"""Venue adapters, one package per venue (auth, rest, ws, mapping).

REQUIRED_ENV lists the environment variables a bot needs to trade live on a venue;
secrets are read only from the environment (see setup_env.sh and the README).
"""

from __future__ import annotations

from collections.abc import Mapping

REQUIRED_ENV: dict[str, tuple[str, ...]] = {
    # Hyperliquid: the API (agent) wallet's private key and the main account address it trades for.
    "hyperliquid": ("HL_SECRET_KEY", "HL_ACCOUNT_ADDRESS"),
    # WOOFi Pro on Orderly: account id and the ed25519 Orderly key pair (ed25519:<base58>).
    "woofi_pro": ("WOOFI_ACCOUNT_ID", "WOOFI_ORDERLY_KEY", "WOOFI_ORDERLY_SECRET"),
    # StandX: the JWT from sign-in and the ed25519 request-signing key bound to it.
    "standx": ("STANDX_JWT", "STANDX_REQUEST_SIGNING_KEY"),
}

LIVE_VENUES_BUILT: frozenset[str] = frozenset({"hyperliquid", "woofi_pro", "standx"})


def missing_env(venue: str, environ: Mapping[str, str]) -> list[str]:
    """Names of the required variables for `venue` that are unset or empty."""
    return [k for k in REQUIRED_ENV.get(venue, ()) if not environ.get(k)]
