#!/usr/bin/env python3
"""Regenerates the committed seed corpora of fuzz/corpus/ from the workspace's insta wire
snapshots and fixtures (run from anywhere: `python3 fuzz/seeds.py`). Seeds only start the
fuzzer in the right shapes; what it learns stays in fuzz/target/corpus/ and is not committed.
Every file is named after its source, so a changed snapshot shows up as a changed seed."""

import base64, hashlib, hmac, json, pathlib, re, shutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "corpus"

# rpc_response's selector byte per method (fuzz_targets/rpc_response.rs, METHODS).
METHODS = ["engine_forkchoiceUpdatedV3", "engine_newPayloadV3", "engine_getPayloadV1",
           "engine_getPayloadV2", "engine_getPayloadV3", "engine_getPayloadV4",
           "engine_exchangeCapabilities", "engine_getClientVersionV1",
           "engine_getPayloadBodiesByHashV1", "eth_blockNumber", "eth_syncing",
           "eth_getBlockByNumber", "eth_getBlockReceipts", "eth_getLogs"]


def snapshot(path):
    """The body of an insta snapshot: what follows its second `---` line."""
    text = (ROOT / path).read_text()
    return text.split("\n---\n", 1)[1]


def seed(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def response(method, result, name):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}, separators=(",", ":"))
    seed("rpc_response", name, bytes([METHODS.index(method)]) + body.encode())


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    ts = "crates/engine-types/tests/snapshots/"
    tk = "crates/engine-testkit/tests/snapshots/"
    dn = "crates/engine-devnet/src/snapshots/engine_devnet__rpc__tests__"

    # rpc_response: the results engine-client parses, in their envelope.
    fcu = json.loads(snapshot(ts + "wire__fcu_response.snap"))
    response("engine_forkchoiceUpdatedV3", fcu, "fcu_response")
    response("engine_forkchoiceUpdatedV3",
             json.loads(snapshot(tk + "wire_shapes__fcu_v3_with_attributes.snap")), "fcu_v3_attributes")
    status = json.loads(snapshot(tk + "wire_shapes__new_payload_v4_valid.snap"))
    response("engine_newPayloadV3", status, "new_payload_valid")
    response("engine_newPayloadV3", {"status": "INVALID", "latestValidHash": None,
                                     "validationError": "bad"}, "new_payload_invalid")
    v2 = json.loads(snapshot(dn + "get_payload_v2.snap"))
    response("engine_getPayloadV2", v2, "get_payload_v2")
    response("engine_getPayloadV1", v2["executionPayload"], "get_payload_v1")
    response("engine_getPayloadV3", json.loads(snapshot(ts + "wire__get_payload_v3_response.snap")),
             "get_payload_v3")
    response("engine_getPayloadV4", json.loads(snapshot(tk + "wire_shapes__get_payload_v4.snap")),
             "get_payload_v4")
    response("engine_exchangeCapabilities",
             json.loads(snapshot(ts + "wire__exchange_capabilities.snap"))[0], "capabilities")
    response("engine_getClientVersionV1",
             json.loads(snapshot(ts + "wire__get_client_version.snap")), "client_version")
    response("engine_getPayloadBodiesByHashV1",
             [{"transactions": v2["executionPayload"]["transactions"],
               "withdrawals": v2["executionPayload"]["withdrawals"]}, None], "bodies")
    response("eth_blockNumber", "0x1b4", "block_number")
    response("eth_syncing", False, "syncing_false")
    response("eth_syncing", {"startingBlock": "0x0", "currentBlock": "0x1", "highestBlock": "0x2"},
             "syncing_progress")
    response("eth_getBlockByNumber", json.loads(snapshot(dn + "block_1_full.snap")), "block_full")
    response("eth_getBlockByNumber", json.loads(snapshot(tk + "wire_shapes__block_latest_hashes.snap")),
             "block_hashes")
    receipt = json.loads(snapshot(dn + "peg_out_receipt.snap"))
    response("eth_getBlockReceipts", [receipt, json.loads(snapshot(tk + "wire_shapes__receipt.snap"))],
             "receipts")
    response("eth_getLogs", receipt.get("logs", []), "logs")
    error = json.loads(snapshot(tk + "wire_shapes__error_invalid_attributes.snap"))
    seed("rpc_response", "error_invalid_attributes",
         bytes([0]) + json.dumps(error, separators=(",", ":")).encode())

    # engine_status: the status types without the envelope.
    seed("engine_status", "fcu_response", json.dumps(fcu))
    seed("engine_status", "new_payload_valid", json.dumps(status))
    seed("engine_status", "syncing", '{"status":"SYNCING","latestValidHash":null,"validationError":null}')
    seed("engine_status", "invalid_block_hash", '{"status":"INVALID_BLOCK_HASH","validationError":"x"}')
    seed("engine_status", "accepted_with_id",
         '{"payloadStatus":{"status":"ACCEPTED"},"payloadId":"0x0000000000000001"}')

    # state_file: the persisted state's snapshot as a log (its header line in hex, its
    # record's JSON, a short zeroed tail) and as JSON, and a version-1 JSON file.
    header, state, _ = snapshot(
        "crates/engine-actor/src/snapshots/engine_actor__persist__tests__state_file_shape.snap"
    ).split("\n", 2)
    seed("state_file", "state_log", bytes.fromhex(header) + state.encode() + bytes(64))
    seed("state_file", "state_v2", state)
    v1 = json.loads(state)
    v1 = {"version": 1, "heads": v1["heads"], "next_withdrawal_index": v1["next_withdrawal_index"]}
    seed("state_file", "state_v1", json.dumps(v1))

    # config_toml: the annotated example of engine-node, and small files.
    settings = (ROOT / "crates/engine-node/src/settings.rs").read_text()
    example = re.search(r'DEFAULT_CONFIG_TOML: &str = r#"(.*?)"#', settings, re.S)
    if example is None:
        raise SystemExit("the example config of engine-node/src/settings.rs was not found")
    seed("config_toml", "example", example.group(1))
    seed("config_toml", "minimal",
         '[[engine.endpoints]]\nengine_url = "http://127.0.0.1:8551"\njwt_secret_file = "/tmp/jwt.hex"\n')
    seed("config_toml", "two_endpoints",
         '[[engine.endpoints]]\nname = "a"\njwt_secret_file = "/j"\n'
         '[[engine.endpoints]]\nname = "b"\nengine_url = "https://127.0.0.1:9551"\njwt_secret_file = "/j"\n'
         '[engine.health]\ncooldown = "1h"\n[chain]\nslot_duration = "5s"\n'
         '[chain.fork_schedule]\nshanghai = 0\ncancun = 1710338135\n')

    # jwt_secret: selector byte 0 = a secret file, 1 = an Authorization header.
    secret = bytes.fromhex("ab" * 32)
    seed("jwt_secret", "secret_plain", b"\x00" + ("ab" * 32).encode() + b"\n")
    seed("jwt_secret", "secret_0x", b"\x00" + ("0x" + "AB" * 32).encode())
    seed("jwt_secret", "secret_short", b"\x00" + ("ab" * 31).encode())

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    for name, claims in [("token_iat", {"iat": 1700000000}),
                         ("token_id", {"iat": 1700000030, "id": "alys", "exp": 1700000100})]:
        head = b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        body = b64(json.dumps(claims).encode())
        sig = b64(hmac.new(secret, head + b"." + body, hashlib.sha256).digest())
        seed("jwt_secret", name, b"\x01Bearer " + head + b"." + body + b"." + sig)

    # tx_admission: the signed dev-chain transfers of the devnet snapshots (selector 0:
    # Shanghai, account unknown; 5: Prague, account known with nonce 0).
    for i, raw in enumerate(re.findall(r'"0x(02f8[0-9a-f]+)"', snapshot(dn + "get_payload_v2.snap")
                                       + snapshot(tk + "wire_shapes__get_payload_v4.snap"))):
        seed("tx_admission", f"transfer_{i}", b"\x00" + bytes.fromhex(raw))
        seed("tx_admission", f"transfer_{i}_account", b"\x05" + bytes.fromhex(raw))

    # payload: structured input (arbitrary); an empty input is the valid base payload, the
    # others are short op lists.
    seed("payload", "base", b"")
    seed("payload", "ops_a", bytes(range(0, 64)))
    seed("payload", "ops_b", bytes([0x23, 0x01, 0x0e, 0x00, 0x10, 0x22] * 8))


if __name__ == "__main__":
    main()
