"""Hyperliquid adapter: signing (auth), price/size rules (rules) and wire <-> core mapping (mapping)."""

from mm_bot.venues.hyperliquid.auth import L1Signer, SigningError, sign_l1_action
from mm_bot.venues.hyperliquid.mapping import (
    CancelFailed,
    HlAsset,
    MarginSummary,
    OpenOrder,
    OrderResult,
    RateLimitStatus,
    UserFills,
    VenuePosition,
    WireError,
)
from mm_bot.venues.hyperliquid.rules import round_price, round_size

__all__ = [
    "CancelFailed",
    "HlAsset",
    "L1Signer",
    "MarginSummary",
    "OpenOrder",
    "OrderResult",
    "RateLimitStatus",
    "SigningError",
    "UserFills",
    "VenuePosition",
    "WireError",
    "round_price",
    "round_size",
    "sign_l1_action",
]
