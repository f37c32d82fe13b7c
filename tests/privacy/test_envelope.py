"""Sealing and opening envelopes: round trips, binding of the header, and the documented format."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mindbridge.privacy.envelope import FORMAT, parse_header
from mindbridge.privacy.errors import DecryptionFailed, PayloadRefused
from mindbridge.summary import RiskSummary

from .conftest import NOW, World, forge, header_for, summary_for


def test_round_trip_returns_the_summary_and_records_it(world: World) -> None:
    summary = summary_for(world.patient.did)
    opened = world.opener.open(world.seal(summary), NOW)
    assert opened.payload == summary
    assert opened.header.sender == world.device.did and opened.header.seq == 1
    highest, seen = world.guard.state()
    assert highest == {world.device.did: 1} and seen == {opened.header.id}


def test_envelope_shows_no_payload_in_clear(memory_world: World) -> None:
    envelope = memory_world.seal()
    assert b"sleep_duration" not in envelope and b"0.31" not in envelope
    data = json.loads(envelope)
    assert data["v"] == FORMAT and set(data) == {"v", "hdr", "ct"}


def test_a_forged_envelope_following_the_documented_format_opens(memory_world: World) -> None:
    payload = summary_for(memory_world.patient.did).model_dump(mode="json")
    envelope = forge(header_for(memory_world), payload, memory_world.device.signing, memory_world.recipient.key)
    assert memory_world.opener.open(envelope, NOW).payload.probability == pytest.approx(0.31)


def test_sequence_numbers_must_grow_per_device(memory_world: World) -> None:
    for seq in (1, 2, 5, 9):
        memory_world.opener.open(memory_world.seal(seq=seq), NOW)
    assert memory_world.guard.state()[0] == {memory_world.device.did: 9}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["id", "created", "seq", "patient"]), pos=st.integers(0, 10_000))
def test_any_header_change_breaks_hpke(memory_world: World, field: str, pos: int) -> None:
    envelope = json.loads(memory_world.seal(seq=1_000_000 + pos))
    header = envelope["hdr"]
    other = header_for(memory_world)
    header[field] = {"id": other["id"], "created": header["created"] - 1 - pos % 100, "seq": header["seq"] + 1,
                     "patient": memory_world.device.did}[field]
    with pytest.raises(DecryptionFailed):
        memory_world.opener.open(json.dumps(envelope).encode(), NOW)
    assert memory_world.guard.state() == ({}, frozenset())


def test_parse_header_reads_the_clear_part(memory_world: World) -> None:
    header, sealed = parse_header(memory_world.seal())
    assert header.recipient == memory_world.recipient.kid
    assert header.created_at == NOW
    assert len(sealed) > 32 + 64  # HPKE enc + signature at least


def test_seal_refuses_a_raw_series(memory_world: World) -> None:
    payload = summary_for(memory_world.patient.did).model_dump(mode="json")
    payload["coverage"] = {f"f{i}": 0.5 for i in range(10)}
    memory_world.seal(payload)  # ten numbers in an object are fine
    payload["samples"] = [float(i) for i in range(200)]
    with pytest.raises(PayloadRefused, match=r"\$\.samples"):
        memory_world.seal(payload)


def test_open_at_window_edges(memory_world: World) -> None:
    old = memory_world.seal(now=NOW - dt.timedelta(days=7))
    assert memory_world.opener.open(old, NOW).header.created_at == NOW - dt.timedelta(days=7)
    assert isinstance(memory_world.opener.open(memory_world.seal(), NOW).payload, RiskSummary)
