"""Hyperliquid signing: every shared vector byte for byte, the SDK's own published values, msgpack."""

from __future__ import annotations

import json
import struct

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given
from hypothesis import strategies as st

from mm_bot.venues.hyperliquid import auth
from tests.venues._shared import shared_dir

SDK_KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
SDK_ADDRESS = "0x14791697260E4c9A71f18484C9f997B308e59325"
VECTOR_FILE = ("vectors", "vectors_hyperliquid.json")


def _load_vectors() -> dict | None:
    path = shared_dir().joinpath(*VECTOR_FILE)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


VECTORS = _load_vectors()
_SKIP = pytest.mark.skip(
    reason=f"shared vectors not found under {shared_dir()} (the 'shared' dir beside the repo)"
)


def _vector_params() -> list:
    if VECTORS is None:
        return [pytest.param(None, "mainnet", marks=_SKIP, id="no-shared-vectors")]
    return [
        pytest.param(v, net, id=f"{v['name']}-{net}")
        for v in VECTORS["vectors"]
        for net in ("mainnet", "testnet")
    ]


def _meta() -> dict:
    if VECTORS is None:
        pytest.skip("shared vectors not found")
    return VECTORS["meta"]


# ---------------------------------------------------------------- shared vectors


def test_vector_file_is_what_we_expect():
    meta = _meta()
    assert meta["private_key"] == SDK_KEY
    assert Account.from_key(SDK_KEY).address == meta["signer_address"] == SDK_ADDRESS
    assert len(VECTORS["vectors"]) >= 15


@pytest.mark.parametrize(("vec", "net"), _vector_params())
def test_vector_byte_for_byte(vec, net):
    key = _meta()["private_key"]
    is_mainnet = net == "mainnet"
    exp = vec["signatures"][net]
    action, vault, nonce, expires = vec["action"], vec["vaultAddress"], vec["nonce"], vec["expiresAfter"]

    # 1. msgpack of the action and the connectionId
    assert auth.packb(action).hex() == vec["msgpack_action_hex"]
    conn = auth.action_hash(action, vault, nonce, expires)
    assert "0x" + conn.hex() == vec["action_hash_connectionId"]

    # 2. phantom agent and the EIP-712 pieces
    agent = auth.construct_phantom_agent(conn, is_mainnet)
    assert agent["source"] == exp["phantom_agent"]["source"] == ("a" if is_mainnet else "b")
    assert "0x" + agent["connectionId"].hex() == exp["phantom_agent"]["connectionId"]
    signable = encode_typed_data(full_message=auth.l1_payload(agent))
    assert "0x" + signable.header.hex() == exp["eip712_domain_separator"]
    assert "0x" + signable.body.hex() == exp["eip712_agent_struct_hash"]
    assert "0x" + auth.eip712_digest(auth.l1_payload(agent)).hex() == exp["eip712_digest"]

    # 3. the signature exactly as the SDK prints it (unpadded r/s) and the padded form
    sig = auth.sign_l1_action(key, action, vault, nonce, expires, is_mainnet)
    assert sig == exp["sdk_signature"]
    assert auth.zero_padded(sig) == exp["signature_zero_padded"]

    # 4. the /exchange body, as a dict and as compact JSON text
    body = auth.exchange_body(action, nonce, sig, vault, expires)
    assert body == exp["exchange_post_body"]
    assert json.dumps(body, separators=(",", ":")) == exp["exchange_post_body_json"]

    # 5. the same through the stateful signer
    signer = auth.L1Signer(key, is_mainnet=is_mainnet, vault_address=vault)
    assert (
        json.dumps(signer.body(action, nonce, expires), separators=(",", ":"))
        == exp["exchange_post_body_json"]
    )

    # 6. the signature recovers the signer's address
    recovered = Account.recover_message(signable, vrs=(sig["v"], int(sig["r"], 16), int(sig["s"], 16)))
    assert recovered == _meta()["signer_address"]


def _sdk_input_params() -> list:
    if VECTORS is None:
        return [pytest.param(None, marks=_SKIP, id="no-shared-vectors")]
    return [pytest.param(v, id=v["name"]) for v in VECTORS["vectors"] if v.get("sdk_inputs")]


@pytest.mark.parametrize("vec", _sdk_input_params())
def test_vector_sdk_inputs_build_the_same_wire(vec):
    inputs = vec["sdk_inputs"]
    wire = auth.order_wire(
        asset=inputs["asset"],
        is_buy=inputs["is_buy"],
        px=inputs["limit_px"],
        sz=inputs["sz"],
        reduce_only=inputs["reduce_only"],
        order_type={"limit": {"tif": inputs["tif"]}},
        cloid=inputs["cloid"],
    )
    assert auth.order_action([wire]) == vec["action"]
    assert auth.packb(auth.order_action([wire])).hex() == vec["msgpack_action_hex"]


def test_action_builders_reproduce_vector_actions():
    if VECTORS is None:
        pytest.skip("shared vectors not found")
    by_name = {v["name"]: v["action"] for v in VECTORS["vectors"]}
    c1 = "0x00000000000000000000000000000001"
    alo_wire = auth.order_wire(0, True, "60005", "0.001", False, {"limit": {"tif": "Alo"}}, c1)
    assert auth.cancel_action([(0, 123456789)]) == by_name["cancel_by_oid"]
    assert auth.cancel_action([(0, 123456789)], fast=True) == by_name["cancel_by_oid_fast"]
    assert auth.cancel_by_cloid_action([(0, c1)]) == by_name["cancel_by_cloid"]
    assert auth.schedule_cancel_action(1700000010000) == by_name["schedule_cancel_set"]
    assert auth.schedule_cancel_action(None) == by_name["schedule_cancel_unset"]
    assert auth.batch_modify_action([(123456789, alo_wire)]) == by_name["batch_modify_by_oid"]
    assert auth.batch_modify_action([(c1, alo_wire)]) == by_name["batch_modify_by_cloid"]
    assert auth.modify_action(123456789, alo_wire) == by_name["modify_single_doc_format"]
    for name in ("cancel_by_oid_fast", "schedule_cancel_unset", "batch_modify_by_cloid"):
        vec = next(v for v in VECTORS["vectors"] if v["name"] == name)
        assert auth.packb(by_name[name]).hex() == vec["msgpack_action_hex"]


# ---------------------------------------------------------------- SDK's own published values
# hyperliquid-python-sdk tests/signing_test.py (key SDK_KEY, nonce 0); independent of ../shared.


def _sdk_order(asset: int, order_type: dict, cloid: str | None = None) -> dict:
    return auth.order_action([auth.order_wire(asset, True, 100, 100, False, order_type, cloid)])


SDK_L1_CASES = [
    (
        "dummy",
        {"type": "dummy", "num": auth.float_to_int_for_hashing(1000)},
        None,
        ("0x53749d5b30552aeb2fca34b530185976545bb22d0b3ce6f62e31be961a59298",
         "0x755c40ba9bf05223521753995abb2f73ab3229be8ec921f350cb447e384d8ed8", 27),
        ("0x542af61ef1f429707e3c76c5293c80d01f74ef853e34b76efffcb57e574f9510",
         "0x17b8b32f086e8cdede991f1e2c529f5dd5297cbe8128500e00cbaf766204a613", 28),
    ),
    (
        "order_gtc",
        _sdk_order(1, {"limit": {"tif": "Gtc"}}),
        None,
        ("0xd65369825a9df5d80099e513cce430311d7d26ddf477f5b3a33d2806b100d78e",
         "0x2b54116ff64054968aa237c20ca9ff68000f977c93289157748a3162b6ea940e", 28),
        ("0x82b2ba28e76b3d761093aaded1b1cdad4960b3af30212b343fb2e6cdfa4e3d54",
         "0x6b53878fc99d26047f4d7e8c90eb98955a109f44209163f52d8dc4278cbbd9f5", 27),
    ),
    (
        "order_gtc_cloid",
        _sdk_order(1, {"limit": {"tif": "Gtc"}}, "0x00000000000000000000000000000001"),
        None,
        ("0x41ae18e8239a56cacbc5dad94d45d0b747e5da11ad564077fcac71277a946e3",
         "0x3c61f667e747404fe7eea8f90ab0e76cc12ce60270438b2058324681a00116da", 27),
        ("0xeba0664bed2676fc4e5a743bf89e5c7501aa6d870bdb9446e122c9466c5cd16d",
         "0x7f3e74825c9114bc59086f1eebea2928c190fdfbfde144827cb02b85bbe90988", 28),
    ),
    (
        "dummy_vault",
        {"type": "dummy", "num": auth.float_to_int_for_hashing(1000)},
        "0x1719884eb866cb12b2287399b15f7db5e7d775ea",
        ("0x3c548db75e479f8012acf3000ca3a6b05606bc2ec0c29c50c515066a326239",
         "0x4d402be7396ce74fbba3795769cda45aec00dc3125a984f2a9f23177b190da2c", 28),
        ("0xe281d2fb5c6e25ca01601f878e4d69c965bb598b88fac58e475dd1f5e56c362b",
         "0x7ddad27e9a238d045c035bc606349d075d5c5cd00a6cd1da23ab5c39d4ef0f60", 27),
    ),
    (
        "tpsl_trigger",
        _sdk_order(1, {"trigger": {"triggerPx": 103, "isMarket": True, "tpsl": "sl"}}),
        None,
        ("0x98343f2b5ae8e26bb2587daad3863bc70d8792b09af1841b6fdd530a2065a3f9",
         "0x6b5bb6bb0633b710aa22b721dd9dee6d083646a5f8e581a20b545be6c1feb405", 27),
        ("0x971c554d917c44e0e1b6cc45d8f9404f32172a9d3b3566262347d0302896a2e4",
         "0x206257b104788f80450f8e786c329daa589aa0b32ba96948201ae556d5637eac", 28),
    ),
    (
        "create_sub_account",
        {"type": "createSubAccount", "name": "example"},
        None,
        ("0x51096fe3239421d16b671e192f574ae24ae14329099b6db28e479b86cdd6caa7",
         "0xb71f7d293af92d3772572afb8b102d167a7cef7473388286bc01f52a5c5b423", 27),
        ("0xa699e3ed5c2b89628c746d3298b5dc1cca604694c2c855da8bb8250ec8014a5b",
         "0x53f1b8153a301c72ecc655b1c315d64e1dcea3ee58921fd7507e35818fcc1584", 28),
    ),
    (
        "sub_account_transfer",
        {"type": "subAccountTransfer", "subAccountUser": "0x1d9470d4b963f552e6f671a81619d395877bf409",
         "isDeposit": True, "usd": 10},
        None,
        ("0x43592d7c6c7d816ece2e206f174be61249d651944932b13343f4d13f306ae602",
         "0x71a926cb5c9a7c01c3359ec4c4c34c16ff8107d610994d4de0e6430e5cc0f4c9", 28),
        ("0xe26574013395ad55ee2f4e0575310f003c5bb3351b5425482e2969fa51543927",
         "0xefb08999196366871f919fd0e138b3a7f30ee33e678df7cfaf203e25f0a4278", 28),
    ),
    (
        "schedule_cancel_unset",
        {"type": "scheduleCancel"},
        None,
        ("0x6cdfb286702f5917e76cd9b3b8bf678fcc49aec194c02a73e6d4f16891195df9",
         "0x6557ac307fa05d25b8d61f21fb8a938e703b3d9bf575f6717ba21ec61261b2a0", 27),
        ("0xc75bb195c3f6a4e06b7d395acc20bbb224f6d23ccff7c6a26d327304e6efaeed",
         "0x342f8ede109a29f2c0723bd5efb9e9100e3bbb493f8fb5164ee3d385908233df", 28),
    ),
    (
        "schedule_cancel_time",
        {"type": "scheduleCancel", "time": 123456789},
        None,
        ("0x609cb20c737945d070716dcc696ba030e9976fcf5edad87afa7d877493109d55",
         "0x16c685d63b5c7a04512d73f183b3d7a00da5406ff1f8aad33f8ae2163bab758b", 28),
        ("0x4e4f2dbd4107c69783e251b7e1057d9f2b9d11cee213441ccfa2be63516dc5bc",
         "0x706c656b23428c8ba356d68db207e11139ede1670481a9e01ae2dfcdb0e1a678", 27),
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "action", "vault", "mainnet", "testnet"), SDK_L1_CASES, ids=[c[0] for c in SDK_L1_CASES]
)
def test_sdk_published_l1_signatures(name, action, vault, mainnet, testnet):
    for is_mainnet, (r, s, v) in ((True, mainnet), (False, testnet)):
        assert auth.sign_l1_action(SDK_KEY, action, vault, 0, None, is_mainnet) == {"r": r, "s": s, "v": v}


def test_sdk_published_phantom_agent_connection_id():
    action = auth.order_action([auth.order_wire(4, True, 1670.1, 0.0147, False, {"limit": {"tif": "Ioc"}})])
    conn = auth.action_hash(action, None, 1677777606040)
    assert "0x" + conn.hex() == "0x0fcbeda5ae3c4950a548021552a4fea2226858c4453571bf3f24ba017eac2908"


def test_sdk_published_user_signed_actions():
    message = {
        "destination": "0x5e9ee1089755c3435139848e47e6635505d5a13a",
        "amount": "1",
        "time": 1687816341423,
    }
    sig = auth.sign_usd_send_action(SDK_KEY, dict(message), False)
    assert sig == {
        "r": "0x637b37dd731507cdd24f46532ca8ba6eec616952c56218baeff04144e4a77073",
        "s": "0x11a6a24900e6e314136d2592e2f8d502cd89b7c15b198e1bee043c9589f9fad7",
        "v": 27,
    }
    sig = auth.sign_withdraw_action(SDK_KEY, dict(message), False)
    assert sig == {
        "r": "0x8363524c799e90ce9bc41022f7c39b4e9bdba786e5f9c72b20e43e1462c37cf9",
        "s": "0x58b1411a775938b83e29182e8ef74975f9054c8e97ebf5ec2dc8d51bfc893881",
        "v": 28,
    }


def test_user_signed_action_sets_chain_fields():
    action = {"type": "usdSend", "destination": "0x" + "11" * 20, "amount": "2", "time": 5}
    auth.sign_usd_send_action(SDK_KEY, action, True)
    assert action["signatureChainId"] == "0x66eee"
    assert action["hyperliquidChain"] == "Mainnet"


@pytest.mark.parametrize("name", [None, "mm-bot"])
def test_approve_agent_recovers_the_account(name):
    agent = "0x5e9ee1089755c3435139848e47e6635505d5a13a"
    action, sig = auth.approve_agent_action(SDK_KEY, agent, name, 1687816341423, False)
    assert action["type"] == "approveAgent"
    assert action["hyperliquidChain"] == "Testnet"
    assert action["signatureChainId"] == "0x66eee"
    assert ("agentName" in action) == (name is not None)
    signed = dict(action, agentName=name or "")
    payload = auth.user_signed_payload(
        "HyperliquidTransaction:ApproveAgent", auth.APPROVE_AGENT_SIGN_TYPES, signed
    )
    signable = encode_typed_data(full_message=payload)
    recovered = Account.recover_message(signable, vrs=(sig["v"], int(sig["r"], 16), int(sig["s"], 16)))
    assert recovered == SDK_ADDRESS


# ---------------------------------------------------------------- msgpack encoder


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "c0"),
        (True, "c3"),
        (False, "c2"),
        (0, "00"),
        (127, "7f"),
        (128, "cc80"),
        (255, "ccff"),
        (256, "cd0100"),
        (65535, "cdffff"),
        (65536, "ce00010000"),
        (2**32 - 1, "ceffffffff"),
        (2**32, "cf0000000100000000"),
        (2**64 - 1, "cfffffffffffffffff"),
        (-1, "ff"),
        (-32, "e0"),
        (-33, "d0df"),
        (-128, "d080"),
        (-129, "d1ff7f"),
        (-32768, "d18000"),
        (-32769, "d2ffff7fff"),
        (-(2**31), "d280000000"),
        (-(2**31) - 1, "d3ffffffff7fffffff"),
        (-(2**63), "d38000000000000000"),
        (1.5, "cb3ff8000000000000"),
        ("", "a0"),
        ("a", "a161"),
        ("x" * 31, "bf" + "78" * 31),
        ("x" * 32, "d920" + "78" * 32),
        ("x" * 255, "d9ff" + "78" * 255),
        ("x" * 256, "da0100" + "78" * 256),
        ("é", "a2c3a9"),
        (b"\x01\x02", "c4020102"),
        ([], "90"),
        ([1, 2], "920102"),
        ((1,), "9101"),
        ([0] * 15, "9f" + "00" * 15),
        ([0] * 16, "dc0010" + "00" * 16),
        ({}, "80"),
        ({"b": 1, "a": 2}, "82a16201a16102"),
        ({f"k{i:02d}": 0 for i in range(16)}, "de0010" + "".join(f"a36b{ord(str(i // 10)):02x}{ord(str(i % 10)):02x}00" for i in range(16))),
    ],
)  # fmt: skip
def test_packb_known_encodings(value, expected):
    assert auth.packb(value).hex() == expected


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, object(), {1.5}])
def test_packb_rejects_unencodable(value):
    with pytest.raises(auth.SigningError):
        auth.packb(value)


@given(st.integers(min_value=-(2**63), max_value=2**64 - 1))
def test_packb_int_roundtrip_by_hand(n):
    raw = auth.packb(n)
    tag = raw[0]
    if 0 <= n < 128:
        assert raw == bytes([n])
    elif -32 <= n < 0:
        assert raw == struct.pack(">b", n)
    else:
        fmt = {
            0xCC: ">B",
            0xCD: ">H",
            0xCE: ">I",
            0xCF: ">Q",
            0xD0: ">b",
            0xD1: ">h",
            0xD2: ">i",
            0xD3: ">q",
        }[tag]
        assert struct.unpack(fmt, raw[1:])[0] == n
        assert len(raw) == 1 + struct.calcsize(fmt)


# ---------------------------------------------------------------- number formatting and cloids


@pytest.mark.parametrize(
    ("x", "wire"),
    [(60000.0, "60000"), (0.001, "0.001"), (1670.1, "1670.1"), (0.0147, "0.0147"), (100, "100"), (-0.0, "0"),
     (123456789.12345678, "123456789.12345678"), (1e-8, "0.00000001"), (10.50, "10.5")],
)  # fmt: skip
def test_float_to_wire(x, wire):
    assert auth.float_to_wire(x) == wire


def test_float_to_wire_refuses_to_round():
    with pytest.raises(ValueError):
        auth.float_to_wire(0.000000001)


def test_float_to_int_sdk_cases():
    assert auth.float_to_int_for_hashing(123123123123) == 12312312312300000000
    assert auth.float_to_int_for_hashing(0.00001231) == 1231
    assert auth.float_to_int_for_hashing(1.033) == 103300000
    assert auth.float_to_usd_int(1.5) == 1500000
    with pytest.raises(ValueError):
        auth.float_to_int_for_hashing(0.000012312312)


def test_order_type_to_wire():
    assert auth.order_type_to_wire({"limit": {"tif": "Alo"}}) == {"limit": {"tif": "Alo"}}
    trig = auth.order_type_to_wire({"trigger": {"triggerPx": 103.0, "isMarket": True, "tpsl": "sl"}})
    assert list(trig["trigger"]) == ["isMarket", "triggerPx", "tpsl"]
    assert trig == {"trigger": {"isMarket": True, "triggerPx": "103", "tpsl": "sl"}}
    for bad in (
        {"limit": {"tif": "Fok"}},
        {"market": {}},
        {"trigger": {"triggerPx": 1, "isMarket": True, "tpsl": "x"}},
    ):
        with pytest.raises(ValueError):
            auth.order_type_to_wire(bad)


def test_order_wire_key_order():
    wire = auth.order_wire(3, False, "1.5", "2", True, {"limit": {"tif": "Ioc"}}, "0x" + "ab" * 16)
    assert list(wire) == ["a", "b", "p", "s", "r", "t", "c"]
    assert "c" not in auth.order_wire(3, False, "1.5", "2", True, {"limit": {"tif": "Ioc"}})


def test_cloid_helpers():
    assert auth.cloid_from_int(1) == "0x00000000000000000000000000000001"
    assert auth.cloid_from_int(2**128 - 1) == "0x" + "f" * 32
    assert auth.cloid_from_bytes(bytes(range(16))) == "0x000102030405060708090a0b0c0d0e0f"
    assert auth.is_cloid("0x" + "0" * 32)
    for bad in (
        "0x" + "0" * 31,
        "0x" + "0" * 33,
        "0X" + "0" * 32,
        "0x" + "G" * 32,
        "0x" + "A" * 32,
        "1" * 34,
    ):
        assert not auth.is_cloid(bad)
        with pytest.raises(ValueError):
            auth.check_cloid(bad)
    with pytest.raises(ValueError):
        auth.cloid_from_int(2**128)
    with pytest.raises(ValueError):
        auth.cloid_from_bytes(b"\x00" * 15)


# ---------------------------------------------------------------- key hygiene


BAD_KEY = "0x" + "zz" * 32


@pytest.mark.parametrize("key", [BAD_KEY, "0x1234", "deadbeef" * 9, ""])
def test_bad_key_error_never_contains_the_key(key):
    with pytest.raises(auth.SigningError) as info:
        auth.sign_l1_action(key, {"type": "scheduleCancel"}, None, 1, None, True)
    text = str(info.value) + repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    if key:
        assert key not in text and key[2:] not in text


def test_signer_repr_hides_key():
    signer = auth.L1Signer(SDK_KEY, is_mainnet=False)
    for text in (repr(signer), str(signer)):
        assert SDK_KEY[2:] not in text and SDK_ADDRESS in text
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(signer)


def test_bad_vault_error_never_contains_the_key():
    with pytest.raises(auth.SigningError) as info:
        auth.sign_l1_action(SDK_KEY, {"type": "scheduleCancel"}, "0x1234", 1, None, True)
    assert SDK_KEY[2:] not in str(info.value)
