"""Multibase base58btc (`z…`) and the multicodec key prefixes that did:key uses.

Base58btc is the Bitcoin alphabet; leading zero bytes become leading '1's. Multicodec prefixes are
unsigned varints: Ed25519 public key 0xed → b"\\xed\\x01", X25519 public key 0xec → b"\\xec\\x01".
"""

from __future__ import annotations

from .errors import AlgorithmRefused, InvalidDid

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}

ED25519_PUB = b"\xed\x01"
X25519_PUB = b"\xec\x01"
KNOWN_CODECS = {
    ED25519_PUB: "Ed25519",
    X25519_PUB: "X25519",
    b"\x80\x24": "P-256",
    b"\x81\x24": "P-384",
    b"\xe7\x01": "secp256k1",
    b"\x85\x24": "RSA",
}


def b58encode(data: bytes) -> str:
    """Encode bytes in base58btc."""
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rem = divmod(number, 58)
        out.append(ALPHABET[rem])
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    """Decode base58btc text, refusing characters outside the alphabet."""
    number = 0
    for pos, char in enumerate(text):
        if char not in _INDEX:
            raise InvalidDid(f"base58btc: invalid character {char!r} at position {pos}")
        number = number * 58 + _INDEX[char]
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def encode_key(codec: bytes, raw: bytes) -> str:
    """A multibase (`z`) string of a multicodec-prefixed raw public key."""
    return "z" + b58encode(codec + raw)


def decode_key(text: str, codec: bytes) -> bytes:
    """The raw public key in a multibase string, checked to carry `codec` (32 bytes for the OKP keys)."""
    if not text.startswith("z"):
        raise InvalidDid(f"multibase value must be base58btc ('z' prefix), got {text[:1]!r}")
    data = b58decode(text[1:])
    if data[:2] != codec:
        if data[:2] in KNOWN_CODECS:
            raise AlgorithmRefused(f"expected a {KNOWN_CODECS[codec]} key, found {KNOWN_CODECS[data[:2]]}")
        raise InvalidDid(f"expected a {KNOWN_CODECS[codec]} key, found unknown codec 0x{data[:2].hex()}")
    raw = data[2:]
    if len(raw) != 32:
        raise InvalidDid(f"{KNOWN_CODECS[codec]} key must be 32 bytes, got {len(raw)}")
    return raw
