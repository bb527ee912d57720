"""WOOFi Pro (Orderly Network, broker_id woofi_pro): request signing and wire <-> core mapping."""
