"""StandX perps: JWT + ed25519 body signing and wire <-> core mapping."""
