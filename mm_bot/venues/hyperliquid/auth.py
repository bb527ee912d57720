"""Hyperliquid request signing: msgpack action hash, EIP-712 phantom agent, user-signed actions.

L1 actions (order, cancel, cancelByCloid, batchModify, modify, scheduleCancel, ...) are signed as
the SDK's `sign_l1_action` does (PROTOCOLS.md 1.5):

1. data = msgpack(action) || nonce (8 bytes BE) || 0x00 | 0x01 + 20-byte vault || [0x00 + expiresAfter (8 BE)]
2. connectionId = keccak256(data)
3. EIP-712 over domain Exchange/1/1337/0x0, type Agent(string source,bytes32 connectionId), source "a"
   on mainnet and "b" on testnet.

User-signed actions (usdSend, withdraw, approveAgent) sign the action fields directly under the
HyperliquidSignTransaction domain with chainId from `signatureChainId` (0x66eee).

msgpack is not a dependency: `packb` below is a minimal encoder for the types actions use, byte-compatible
with Python msgpack's defaults (`use_bin_type=True`, smallest int encoding, float64, dict insertion order).

Private keys only ever arrive as arguments; they are never logged, stored in reprs or put in exception text.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_hex

MAINNET_API_URL = "https://api.hyperliquid.xyz"
TESTNET_API_URL = "https://api.hyperliquid-testnet.xyz"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
USER_SIGNED_CHAIN_ID = "0x66eee"

_CLOID_RE = re.compile(r"^0x[0-9a-f]{32}$")
_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")

EIP712_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
AGENT_TYPE = [
    {"name": "source", "type": "string"},
    {"name": "connectionId", "type": "bytes32"},
]
USD_SEND_SIGN_TYPES = [
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "destination", "type": "string"},
    {"name": "amount", "type": "string"},
    {"name": "time", "type": "uint64"},
]
WITHDRAW_SIGN_TYPES = USD_SEND_SIGN_TYPES
APPROVE_AGENT_SIGN_TYPES = [
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "agentAddress", "type": "address"},
    {"name": "agentName", "type": "string"},
    {"name": "nonce", "type": "uint64"},
]


class SigningError(ValueError):
    """Signing could not proceed (bad key, bad address, unencodable action). Never carries a key."""


# ---------------------------------------------------------------- msgpack


def packb(obj: Any) -> bytes:
    """msgpack-encode `obj` exactly as Python msgpack's `packb` does with its defaults.

    Supports None, bool, int (-2**63 .. 2**64-1), float (float64), str, bytes, list/tuple and
    dict/Mapping with str keys (insertion order kept).
    """
    out = bytearray()
    _pack(obj, out)
    return bytes(out)


def _pack(obj: Any, out: bytearray) -> None:
    if obj is None:
        out.append(0xC0)
    elif obj is True:
        out.append(0xC3)
    elif obj is False:
        out.append(0xC2)
    elif isinstance(obj, int):
        _pack_int(obj, out)
    elif isinstance(obj, float):
        out.append(0xCB)
        out += struct.pack(">d", obj)
    elif isinstance(obj, str):
        raw = obj.encode("utf-8")
        n = len(raw)
        if n < 32:
            out.append(0xA0 | n)
        elif n < 0x100:
            out += b"\xd9" + struct.pack(">B", n)
        elif n < 0x10000:
            out += b"\xda" + struct.pack(">H", n)
        elif n < 0x100000000:
            out += b"\xdb" + struct.pack(">I", n)
        else:
            raise SigningError("msgpack: string too long")
        out += raw
    elif isinstance(obj, bytes | bytearray | memoryview):
        raw = bytes(obj)
        n = len(raw)
        if n < 0x100:
            out += b"\xc4" + struct.pack(">B", n)
        elif n < 0x10000:
            out += b"\xc5" + struct.pack(">H", n)
        elif n < 0x100000000:
            out += b"\xc6" + struct.pack(">I", n)
        else:
            raise SigningError("msgpack: bytes too long")
        out += raw
    elif isinstance(obj, list | tuple):
        n = len(obj)
        if n < 16:
            out.append(0x90 | n)
        elif n < 0x10000:
            out += b"\xdc" + struct.pack(">H", n)
        else:
            out += b"\xdd" + struct.pack(">I", n)
        for item in obj:
            _pack(item, out)
    elif isinstance(obj, Mapping):
        n = len(obj)
        if n < 16:
            out.append(0x80 | n)
        elif n < 0x10000:
            out += b"\xde" + struct.pack(">H", n)
        else:
            out += b"\xdf" + struct.pack(">I", n)
        for key, value in obj.items():
            _pack(key, out)
            _pack(value, out)
    else:
        raise SigningError(f"msgpack: cannot encode {type(obj).__name__}")


def _pack_int(n: int, out: bytearray) -> None:
    if n >= 0:
        if n < 0x80:
            out.append(n)
        elif n < 0x100:
            out += b"\xcc" + struct.pack(">B", n)
        elif n < 0x10000:
            out += b"\xcd" + struct.pack(">H", n)
        elif n < 0x100000000:
            out += b"\xce" + struct.pack(">I", n)
        elif n < 0x10000000000000000:
            out += b"\xcf" + struct.pack(">Q", n)
        else:
            raise SigningError("msgpack: integer too large")
    else:
        if n >= -32:
            out += struct.pack(">b", n)
        elif n >= -0x80:
            out += b"\xd0" + struct.pack(">b", n)
        elif n >= -0x8000:
            out += b"\xd1" + struct.pack(">h", n)
        elif n >= -0x80000000:
            out += b"\xd2" + struct.pack(">i", n)
        elif n >= -0x8000000000000000:
            out += b"\xd3" + struct.pack(">q", n)
        else:
            raise SigningError("msgpack: integer too small")


# ---------------------------------------------------------------- number and wire formatting


def float_to_wire(x: float) -> str:
    """The SDK's number string: 8-decimal rounding (must be exact to 1e-12), no trailing zeros."""
    rounded = f"{x:.8f}"
    if abs(float(rounded) - x) >= 1e-12:
        raise ValueError(f"float_to_wire causes rounding: {x!r}")
    if rounded == "-0":
        rounded = "0"
    normalized = Decimal(rounded).normalize()
    text = f"{normalized:f}"
    return "0" if text == "-0" else text


def float_to_int(x: float, power: int) -> int:
    """x * 10**power as an int; ValueError when that would round by 1e-3 or more (SDK rule)."""
    with_decimals = x * 10**power
    if abs(round(with_decimals) - with_decimals) >= 1e-3:
        raise ValueError(f"float_to_int causes rounding: {x!r}")
    return round(with_decimals)


def float_to_int_for_hashing(x: float) -> int:
    return float_to_int(x, 8)


def float_to_usd_int(x: float) -> int:
    return float_to_int(x, 6)


def is_cloid(value: str) -> bool:
    """True for the wire cloid format: '0x' + 32 lowercase hex characters (16 bytes)."""
    return bool(_CLOID_RE.match(value))


def cloid_from_int(n: int) -> str:
    """The cloid of a non-negative integer below 2**128, e.g. 1 -> '0x000...01'."""
    if not 0 <= n < 1 << 128:
        raise ValueError("cloid integer out of range [0, 2**128)")
    return f"0x{n:032x}"


def cloid_from_bytes(raw: bytes) -> str:
    """The cloid of exactly 16 bytes."""
    if len(raw) != 16:
        raise ValueError(f"cloid needs 16 bytes, got {len(raw)}")
    return "0x" + raw.hex()


def check_cloid(value: str) -> str:
    """Return `value` if it is a valid wire cloid, else raise ValueError."""
    if not isinstance(value, str) or not is_cloid(value):
        raise ValueError(f"invalid cloid {value!r}: want '0x' + 32 lowercase hex chars")
    return value


def order_type_to_wire(order_type: Mapping[str, Any]) -> dict[str, Any]:
    """{'limit': {'tif': ...}} or {'trigger': {'triggerPx': float, 'isMarket': bool, 'tpsl': ...}} to wire."""
    if "limit" in order_type:
        tif = order_type["limit"]["tif"]
        if tif not in ("Alo", "Ioc", "Gtc"):
            raise ValueError(f"invalid tif {tif!r}")
        return {"limit": {"tif": tif}}
    if "trigger" in order_type:
        trig = order_type["trigger"]
        if trig["tpsl"] not in ("tp", "sl"):
            raise ValueError(f"invalid tpsl {trig['tpsl']!r}")
        px = trig["triggerPx"]
        return {
            "trigger": {
                "isMarket": bool(trig["isMarket"]),
                "triggerPx": px if isinstance(px, str) else float_to_wire(px),
                "tpsl": trig["tpsl"],
            }
        }
    raise ValueError(f"invalid order type {order_type!r}")


def order_wire(
    asset: int,
    is_buy: bool,
    px: str | float,
    sz: str | float,
    reduce_only: bool,
    order_type: Mapping[str, Any],
    cloid: str | None = None,
) -> dict[str, Any]:
    """One order in wire form, keys in signing order a,b,p,s,r,t[,c].

    px and sz may be wire strings already (from exact tick/lot arithmetic) or floats (SDK style,
    formatted with float_to_wire).
    """
    wire: dict[str, Any] = {
        "a": int(asset),
        "b": bool(is_buy),
        "p": px if isinstance(px, str) else float_to_wire(px),
        "s": sz if isinstance(sz, str) else float_to_wire(sz),
        "r": bool(reduce_only),
        "t": order_type_to_wire(order_type),
    }
    if cloid is not None:
        wire["c"] = check_cloid(cloid)
    return wire


def order_action(
    orders: Sequence[Mapping[str, Any]], grouping: str = "na", builder: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """{'type':'order','orders':[...],'grouping':...[, 'builder':{...}]}."""
    action: dict[str, Any] = {"type": "order", "orders": list(orders), "grouping": grouping}
    if builder:
        action["builder"] = dict(builder)
    return action


def cancel_action(cancels: Sequence[tuple[int, int]], fast: bool = False) -> dict[str, Any]:
    """Cancel by (asset, oid). `f` is emitted only when true (docs; key order assumed last)."""
    action: dict[str, Any] = {"type": "cancel", "cancels": [{"a": int(a), "o": int(o)} for a, o in cancels]}
    if fast:
        action["f"] = True
    return action


def cancel_by_cloid_action(cancels: Sequence[tuple[int, str]], fast: bool = False) -> dict[str, Any]:
    """Cancel by (asset, cloid): wire fields are `asset` / `cloid`."""
    action: dict[str, Any] = {
        "type": "cancelByCloid",
        "cancels": [{"asset": int(a), "cloid": check_cloid(c)} for a, c in cancels],
    }
    if fast:
        action["f"] = True
    return action


def batch_modify_action(modifies: Sequence[tuple[int | str, Mapping[str, Any]]]) -> dict[str, Any]:
    """batchModify: each (oid or cloid, order wire)."""
    out = []
    for oid, wire in modifies:
        ref = check_cloid(oid) if isinstance(oid, str) else int(oid)
        out.append({"oid": ref, "order": dict(wire)})
    return {"type": "batchModify", "modifies": out}


def modify_action(oid: int | str, wire: Mapping[str, Any]) -> dict[str, Any]:
    """Single documented `modify` action (the SDK always uses batchModify)."""
    ref = check_cloid(oid) if isinstance(oid, str) else int(oid)
    return {"type": "modify", "oid": ref, "order": dict(wire)}


def schedule_cancel_action(time_ms: int | None) -> dict[str, Any]:
    """Dead man's switch: cancel all at `time_ms`; None clears it (no `time` key)."""
    action: dict[str, Any] = {"type": "scheduleCancel"}
    if time_ms is not None:
        action["time"] = int(time_ms)
    return action


# ---------------------------------------------------------------- L1 signing


def _address_bytes(address: str) -> bytes:
    if not isinstance(address, str) or not _ADDRESS_RE.match(address):
        raise SigningError("invalid address: want 0x + 40 hex chars")
    return bytes.fromhex(address[2:])


def action_hash(
    action: Any, vault_address: str | None, nonce: int, expires_after: int | None = None
) -> bytes:
    """keccak256(msgpack(action) || nonce BE8 || vault flag[+addr] || [0x00 || expiresAfter BE8])."""
    data = bytearray(packb(action))
    data += int(nonce).to_bytes(8, "big")
    if vault_address is None:
        data += b"\x00"
    else:
        data += b"\x01"
        data += _address_bytes(vault_address)
    if expires_after is not None:
        data += b"\x00"
        data += int(expires_after).to_bytes(8, "big")
    return keccak(bytes(data))


def construct_phantom_agent(connection_id: bytes, is_mainnet: bool) -> dict[str, Any]:
    return {"source": "a" if is_mainnet else "b", "connectionId": connection_id}


def l1_payload(phantom_agent: Mapping[str, Any]) -> dict[str, Any]:
    """The EIP-712 full message for an L1 action's phantom agent."""
    return {
        "domain": {
            "chainId": 1337,
            "name": "Exchange",
            "verifyingContract": ZERO_ADDRESS,
            "version": "1",
        },
        "types": {"Agent": AGENT_TYPE, "EIP712Domain": EIP712_DOMAIN_TYPE},
        "primaryType": "Agent",
        "message": dict(phantom_agent),
    }


def user_signed_payload(
    primary_type: str, payload_types: Sequence[Mapping[str, str]], action: Mapping[str, Any]
) -> dict[str, Any]:
    """The EIP-712 full message of a user-signed action (domain HyperliquidSignTransaction)."""
    chain_id = int(action["signatureChainId"], 16)
    return {
        "domain": {
            "name": "HyperliquidSignTransaction",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": ZERO_ADDRESS,
        },
        "types": {primary_type: [dict(t) for t in payload_types], "EIP712Domain": EIP712_DOMAIN_TYPE},
        "primaryType": primary_type,
        "message": {t["name"]: action[t["name"]] for t in payload_types},
    }


def _account(private_key: str | bytes) -> Any:
    try:
        return Account.from_key(private_key)
    except Exception:
        # The original exception text may quote the key: do not chain it.
        raise SigningError("invalid private key") from None


def _sign_typed(account: Any, full_message: dict[str, Any]) -> dict[str, Any]:
    signable = encode_typed_data(full_message=full_message)
    signed = account.sign_message(signable)
    return {"r": to_hex(signed.r), "s": to_hex(signed.s), "v": signed.v}


def eip712_digest(full_message: dict[str, Any]) -> bytes:
    """keccak256(0x1901 || domainSeparator || structHash) of a full EIP-712 message."""
    signable = encode_typed_data(full_message=full_message)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def sign_l1_action(
    private_key: str | bytes,
    action: Any,
    vault_address: str | None,
    nonce: int,
    expires_after: int | None,
    is_mainnet: bool,
) -> dict[str, Any]:
    """Signature {'r','s','v'} of an L1 action; r/s unpadded hex like the SDK."""
    account = _account(private_key)
    return _sign_l1_with(account, action, vault_address, nonce, expires_after, is_mainnet)


def _sign_l1_with(
    account: Any,
    action: Any,
    vault_address: str | None,
    nonce: int,
    expires_after: int | None,
    is_mainnet: bool,
) -> dict[str, Any]:
    connection_id = action_hash(action, vault_address, nonce, expires_after)
    return _sign_typed(account, l1_payload(construct_phantom_agent(connection_id, is_mainnet)))


def sign_user_signed_action(
    private_key: str | bytes,
    action: dict[str, Any],
    payload_types: Sequence[Mapping[str, str]],
    primary_type: str,
    is_mainnet: bool,
) -> dict[str, Any]:
    """Sign a user-signed action; sets `signatureChainId` and `hyperliquidChain` on `action` (as the SDK)."""
    account = _account(private_key)
    action["signatureChainId"] = USER_SIGNED_CHAIN_ID
    action["hyperliquidChain"] = "Mainnet" if is_mainnet else "Testnet"
    return _sign_typed(account, user_signed_payload(primary_type, payload_types, action))


def sign_usd_send_action(
    private_key: str | bytes, action: dict[str, Any], is_mainnet: bool
) -> dict[str, Any]:
    return sign_user_signed_action(
        private_key, action, USD_SEND_SIGN_TYPES, "HyperliquidTransaction:UsdSend", is_mainnet
    )


def sign_withdraw_action(
    private_key: str | bytes, action: dict[str, Any], is_mainnet: bool
) -> dict[str, Any]:
    return sign_user_signed_action(
        private_key, action, WITHDRAW_SIGN_TYPES, "HyperliquidTransaction:Withdraw", is_mainnet
    )


def approve_agent_action(
    private_key: str | bytes,
    agent_address: str,
    agent_name: str | None,
    nonce: int,
    is_mainnet: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(action, signature) approving an API wallet, as the SDK's `approve_agent`.

    The signed message always carries `agentName` ("" when None); the action sent drops the key
    when no name was given, as the SDK does.
    """
    _address_bytes(agent_address)
    action: dict[str, Any] = {
        "type": "approveAgent",
        "agentAddress": agent_address,
        "agentName": agent_name or "",
        "nonce": int(nonce),
    }
    signature = sign_user_signed_action(
        private_key, action, APPROVE_AGENT_SIGN_TYPES, "HyperliquidTransaction:ApproveAgent", is_mainnet
    )
    if agent_name is None:
        del action["agentName"]
    return action, signature


def exchange_body(
    action: Any,
    nonce: int,
    signature: Mapping[str, Any],
    vault_address: str | None = None,
    expires_after: int | None = None,
) -> dict[str, Any]:
    """The /exchange POST body in the SDK's key order (both optional keys always present)."""
    return {
        "action": action,
        "nonce": int(nonce),
        "signature": dict(signature),
        "vaultAddress": vault_address,
        "expiresAfter": expires_after,
    }


def zero_padded(signature: Mapping[str, Any]) -> dict[str, Any]:
    """The same signature with r and s as 32-byte (64 hex char) strings."""
    return {
        "r": "0x" + int(signature["r"], 16).to_bytes(32, "big").hex(),
        "s": "0x" + int(signature["s"], 16).to_bytes(32, "big").hex(),
        "v": signature["v"],
    }


class L1Signer:
    """Holds one signing key (an agent/API wallet) and signs L1 actions for one network.

    The key is kept only inside the eth-account object; repr and str show the address only.
    """

    __slots__ = ("_account", "is_mainnet", "vault_address")

    def __init__(self, private_key: str | bytes, *, is_mainnet: bool, vault_address: str | None = None):
        self._account = _account(private_key)
        self.is_mainnet = bool(is_mainnet)
        if vault_address is not None:
            _address_bytes(vault_address)
            vault_address = vault_address.lower()
        self.vault_address = vault_address

    @property
    def address(self) -> str:
        return self._account.address

    def __repr__(self) -> str:
        net = "mainnet" if self.is_mainnet else "testnet"
        return f"L1Signer(address={self.address}, {net}, vault={self.vault_address})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("L1Signer cannot be pickled")

    def sign(self, action: Any, nonce: int, expires_after: int | None = None) -> dict[str, Any]:
        return _sign_l1_with(self._account, action, self.vault_address, nonce, expires_after, self.is_mainnet)

    def body(self, action: Any, nonce: int, expires_after: int | None = None) -> dict[str, Any]:
        """Signed /exchange POST body for `action`."""
        signature = self.sign(action, nonce, expires_after)
        return exchange_body(action, nonce, signature, self.vault_address, expires_after)
