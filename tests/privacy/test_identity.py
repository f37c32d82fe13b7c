"""Identities: base58btc, did:key, did:web, canonical JSON, the encrypted keystore and key rotation."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from mindbridge.privacy.canonical import canonical, number
from mindbridge.privacy.did import Resolver, did_key, did_web_url, ed25519_of_did_key, key_document, web_document
from mindbridge.privacy.errors import InvalidDid, KeystoreError, MalformedInput, RetiredKey, UnknownSigner
from mindbridge.privacy.keys import Identity, load, lock, public_info, save, unlock
from mindbridge.privacy.multibase import b58decode, b58encode
from mindbridge.privacy.rotation import DeviceList, verify_device_list

from .conftest import CLINIC_DID, NOW


@given(st.binary(max_size=80))
def test_base58_round_trip(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data


def test_base58_known_answers() -> None:
    # "Hello World!" and leading zero bytes, as in the base58btc draft (draft-msporny-base58)
    assert b58encode(b"Hello World!") == "2NEpo7TZRRrLZSi2U"
    assert b58encode(b"\0\0\x28\x7f\xb4\xcd") == "11233QC4"
    assert b58encode(b"") == ""


def test_did_key_of_the_rfc8032_test_key() -> None:
    # RFC 8032 §7.1 test 1 public key; its did:key is the did:key method spec's Ed25519 example form
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    key = Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")).public_key()
    assert key.public_bytes_raw() == public
    did = did_key(key)
    assert did.startswith("did:key:z6Mk")  # 0xed01 prefix always encodes to z6Mk
    assert ed25519_of_did_key(did).public_bytes_raw() == public
    assert key_document(did).signing_key()[1].public_bytes_raw() == public


@pytest.mark.parametrize(("did", "url"), [
    ("did:web:w3c-ccg.github.io", "https://w3c-ccg.github.io/.well-known/did.json"),
    ("did:web:w3c-ccg.github.io:user:alice", "https://w3c-ccg.github.io/user/alice/did.json"),
    ("did:web:example.com%3A3000:user:alice", "https://example.com:3000/user/alice/did.json"),
])
def test_did_web_url_mapping(did: str, url: str) -> None:
    assert did_web_url(did) == url


@pytest.mark.parametrize("bad", ["did:web:", "did:web:exa mple.org", "did:key:abc", "did:key:z6Mk", "web:x.org",
                                 "did:web:x.org/../../etc", 42, "did:web:" + "a" * 600])
def test_malformed_dids_are_refused(bad: object) -> None:
    with pytest.raises(InvalidDid):
        did_web_url(bad)  # type: ignore[arg-type]


def test_did_web_documents_resolve_from_a_folder(tmp_path: Path) -> None:
    clinic = Identity.generate("clinic", web_did=CLINIC_DID)
    assert clinic.agreement is not None
    doc = web_document(clinic.did, clinic.signing.public_key(), clinic.agreement.public_key())
    target = tmp_path / "clinic.example.org" / "north" / "did.json"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(doc.to_json()))
    resolved = Resolver.from_directory(tmp_path).resolve(CLINIC_DID)
    kid, key = resolved.agreement_key()
    assert kid == f"{CLINIC_DID}#kex" and key.public_bytes_raw() == clinic.agreement.public_key().public_bytes_raw()
    assert resolved.signing_key()[1].public_bytes_raw() == clinic.signing.public_key().public_bytes_raw()
    with pytest.raises(InvalidDid, match="no document"):
        Resolver.from_directory(tmp_path).resolve("did:web:unknown.example.org")


def test_a_document_for_another_did_is_refused(tmp_path: Path) -> None:
    clinic = Identity.generate("clinic", web_did=CLINIC_DID)
    assert clinic.agreement is not None
    doc = web_document(clinic.did, clinic.signing.public_key(), clinic.agreement.public_key()).to_json()
    resolver = Resolver({"https://evil.example.org/.well-known/did.json": doc})
    with pytest.raises(InvalidDid, match="does not match"):
        resolver.resolve("did:web:evil.example.org")


@pytest.mark.parametrize(("x", "text"), [  # RFC 8785 appendix B / ECMAScript Number.prototype.toString
    (0.0, "0"), (-0.0, "0"), (1e21, "1e+21"), (1e-7, "1e-7"), (1e-6, "0.000001"), (1e20, "100000000000000000000"),
    (123456789012345680000.0, "123456789012345680000"), (5e-324, "5e-324"), (-1.5, "-1.5"), (0.1, "0.1"),
    (1.7976931348623157e308, "1.7976931348623157e+308"), (333333333.3333333, "333333333.3333333"),
])
def test_canonical_numbers(x: float, text: str) -> None:
    assert number(x) == text


def test_canonical_writes_big_integers_as_doubles() -> None:
    assert canonical(2**53 + 1) == b"9007199254740992"
    assert canonical(10**21) == b"1e+21"


def test_canonical_orders_members_by_utf16_code_units() -> None:
    # RFC 8785 §3.2.3: U+1F600 (UTF-16 D83D DE00) sorts before U+FB33, although its code point is higher
    assert canonical({"\ufb33": 1, "😀": 2, "a": [True, None, "x\n"]}) == (
        '{"a":[true,null,"x\\n"],"😀":2,"\ufb33":1}'.encode())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=12)


@given(json_values)
def test_canonical_json_parses_back_to_the_same_value(value: object) -> None:
    back = json.loads(canonical(value))
    assert _same(back, value)
    assert canonical(back) == canonical(value)


def _same(a: object, b: object) -> bool:
    if isinstance(b, float) and not isinstance(a, bool):
        return (isinstance(a, int | float) and math.isclose(a, b, rel_tol=0, abs_tol=0)) or a == b
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in b)
    if isinstance(b, list):
        return isinstance(a, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), b"bytes", {1: "x"}, "\ud800"])
def test_canonical_refuses_non_json(bad: object) -> None:
    with pytest.raises(MalformedInput):
        canonical({"x": bad})


def test_keystore_round_trip_and_wrong_passphrase(tmp_path: Path) -> None:
    clinic = Identity.generate("clinic", web_did=CLINIC_DID)
    save(clinic, tmp_path / "k.json", "correct horse", n=2**14)
    back = load(tmp_path / "k.json", "correct horse")
    assert back.did == clinic.did and back.role == "clinic"
    assert back.signing.private_bytes_raw() == clinic.signing.private_bytes_raw()
    assert public_info(tmp_path / "k.json") == {"role": "clinic", "did": CLINIC_DID, "patient": None}
    assert (tmp_path / "k.json").stat().st_mode & 0o777 == 0o600
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        load(tmp_path / "k.json", "wrong horse")


def test_keystore_metadata_cannot_be_altered() -> None:
    device = Identity.generate("device", patient=Identity.generate("patient").did)
    store = lock(device, "pw", n=2**14)
    store["patient"] = Identity.generate("patient").did
    with pytest.raises(KeystoreError):
        unlock(store, "pw")


def test_no_key_material_in_reprs_files_or_errors(tmp_path: Path) -> None:
    clinic = Identity.generate("clinic", web_did=CLINIC_DID)
    assert clinic.agreement is not None
    secrets = [clinic.signing.private_bytes_raw(), clinic.agreement.private_bytes_raw()]
    save(clinic, tmp_path / "k.json", "pw", n=2**14)
    texts = [repr(clinic), str(clinic), (tmp_path / "k.json").read_text()]
    with pytest.raises(KeystoreError) as caught:
        load(tmp_path / "k.json", "not pw")
    texts += [str(caught.value), repr(caught.value), repr(caught.value.__cause__)]
    for secret in secrets:
        for encoded in (secret.hex(), secret.hex().upper(), _b64(secret), b58encode(secret)):
            assert not any(encoded in text for text in texts)
    assert "pw" not in str(caught.value).replace(str(tmp_path), "")


def _b64(data: bytes) -> str:
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_rotation_window() -> None:
    patient = Identity.generate("patient")
    old, new = Identity.generate("device", patient=patient.did), Identity.generate("device", patient=patient.did)
    start = NOW - dt.timedelta(days=10)
    devices = DeviceList(patient.did, 0).enrol(old.did, start).enrol(new.did, NOW).retire(old.did, NOW)
    back = verify_device_list(devices.sign(patient), patient.did)
    assert back == devices and back.version == 3
    back.authorise(old.did, NOW - dt.timedelta(seconds=1))
    back.authorise(new.did, NOW)
    with pytest.raises(RetiredKey):
        back.authorise(old.did, NOW)
    with pytest.raises(UnknownSigner):
        back.authorise(new.did, NOW - dt.timedelta(seconds=1))
    with pytest.raises(UnknownSigner):
        verify_device_list(devices.sign(patient), Identity.generate("patient").did)
    with pytest.raises(MalformedInput):
        devices.sign(old)
