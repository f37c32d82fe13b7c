"""The persisted state: resume after a kill or a torn save gives the same summaries; damage is refused; saves are
in place; size stays bounded; earlier layouts are read."""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import hashlib
import json
import resource
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.world import NOW, Clinic, depresjon_series, new_engine
from mindbridge.biomarkers.trailing import PER_DAY
from mindbridge.datapoints import Kind, Series
from mindbridge.edge.engine import EdgeEngine, split_days
from mindbridge.edge.slots import FIRST_SLOT, PAGE, slot_offset, slot_size, write_generation
from mindbridge.edge.state import FORMAT, EdgeState, StateError, load_state, save_state
from mindbridge.privacy.keys import Identity

DAY0 = dt.date(2024, 1, 1)


def synthetic_day(day: dt.date, seed: int) -> Series:
    """A day of minute counts in UTC: quiet nights, active days, random level."""
    rng = np.random.default_rng(seed)
    t = np.datetime64(day, "ns") + np.arange(PER_DAY) * np.timedelta64(60, "s")
    hour = np.arange(PER_DAY) / 60
    counts = rng.poisson(np.where((hour > 7) & (hour < 23), 200 + 50 * rng.random(), 2)).astype(float)
    return Series("s", Kind.ACTIVITY_COUNTS, "Actiwatch AW4", "UTC", t, {"value": counts})


def utc_engine(path: Path, model_dir: Path, world: Clinic) -> EdgeEngine:
    EdgeEngine.init(path, model_dir, world.device, tz="UTC", source="Actiwatch AW4")
    return EdgeEngine.open(path, model_dir, world.device, world.recipient)


@pytest.mark.slow
def test_resuming_after_any_day_gives_the_same_summaries(depresjon_dir: Path, tmp_path: Path, model_dir: Path,
                                                         clinic: Clinic) -> None:
    days = split_days(depresjon_series(depresjon_dir, "condition_2"))[:12]
    straight = new_engine(tmp_path / "straight", model_dir, clinic)
    expected = [straight.ingest_day(d, part, now=NOW) for d, part in days]
    assert sum(s is not None for s in expected) >= 8
    for kill_after in range(1, len(days)):
        path = tmp_path / f"killed-{kill_after}"
        first = new_engine(path, model_dir, clinic)
        got = [first.ingest_day(d, part, now=NOW) for d, part in days[:kill_after]]
        del first  # the process dies; only the file survives
        resumed = EdgeEngine.open(path, model_dir, clinic.device, clinic.recipient)
        got += [resumed.ingest_day(d, part, now=NOW) for d, part in days[kill_after:]]
        assert got == expected, kill_after


def slot_of(data: bytes, generation: int) -> slice:
    """Where a generation's slot lies in a `/3` state file's bytes."""
    size = slot_size(data, FORMAT)
    assert size is not None
    at = slot_offset(generation, size)
    return slice(at, at + size)


def three_days(path: Path, model_dir: Path, clinic: Clinic) -> EdgeEngine:
    engine = utc_engine(path, model_dir, clinic)
    for k in range(3):
        engine.ingest_day(DAY0 + dt.timedelta(days=k), synthetic_day(DAY0 + dt.timedelta(days=k), k))
    return engine


def test_damaged_state_is_refused_never_reset(tmp_path: Path, model_dir: Path, clinic: Clinic) -> None:
    path = tmp_path / "state"
    newest = three_days(path, model_dir, clinic).state.generation
    good = path.read_bytes()
    both = bytearray(good)
    for generation in (newest, newest - 1):
        both[slot_of(good, generation).start + 200] ^= 0x01
    for damaged, why in ((good[: FIRST_SLOT + 100], "truncated"), (bytes(both), "bit flips"),
                         (good.replace(b"/3 ", b"/9 ", 1), "other version"), (b"", "empty")):
        path.write_bytes(damaged)
        with pytest.raises(StateError, match=str(path)):
            EdgeEngine.open(path, model_dir, clinic.device, clinic.recipient)
        assert path.read_bytes() == damaged, why  # nothing was reset
    path.write_bytes(good)
    assert load_state(path).last_day == DAY0 + dt.timedelta(days=2)


def test_a_torn_save_falls_back_to_the_generation_before(tmp_path: Path, model_dir: Path, clinic: Clinic) -> None:
    path = tmp_path / "state"
    engine = three_days(path, model_dir, clinic)
    for k in range(3, 7):  # then generation 9 over 7: a header torn after one byte would claim 9 for 7's payload
        day = DAY0 + dt.timedelta(days=k)
        engine.ingest_day(day, synthetic_day(day, k), now=NOW)
    before = path.read_bytes()
    previous = load_state(path)
    day = DAY0 + dt.timedelta(days=7)
    expected = engine.ingest_day(day, synthetic_day(day, 7), now=NOW)
    after = path.read_bytes()
    written = slot_of(after, engine.state.generation)
    header = after.index(b"\n", written.start) + 1 - written.start
    # the crash came after `cut` bytes of the new generation reached the disk: every byte of its header line,
    # then every 499th of its payload
    for cut in [*range(1, header + 8), *range(header + 8, len(engine.state.payload()) + header, 499)]:
        torn = before[:written.start] + after[written.start:written.start + cut] + before[written.start + cut:]
        path.write_bytes(torn)
        loaded = load_state(path)
        assert (loaded.generation, loaded.payload()) == (previous.generation, previous.payload()), cut
    resumed = EdgeEngine.open(path, model_dir, clinic.device, clinic.recipient)
    assert resumed.ingest_day(day, synthetic_day(day, 7), now=NOW) == expected


def test_a_save_refused_by_the_disk_keeps_the_day_before(tmp_path: Path, model_dir: Path, clinic: Clinic) -> None:
    path = tmp_path / "state"
    engine = three_days(path, model_dir, clinic)
    before = load_state(path)
    day = DAY0 + dt.timedelta(days=3)
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (slot_of(path.read_bytes(), before.generation + 1).start + 5000,
                                               limit[1]))
    try:  # the disk takes 5,000 bytes of the new generation, then refuses
        with pytest.raises(OSError):
            engine.ingest_day(day, synthetic_day(day, 3), now=NOW)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
    assert load_state(path).payload() == before.payload()
    save_state(engine.state, path)  # a retry writes the same slot, never the day before's
    assert load_state(path).last_day == day and load_state(path).generation == before.generation + 1


def test_a_save_never_overwrites_a_generation_another_writer_saved(tmp_path: Path, model_dir: Path,
                                                                     clinic: Clinic) -> None:
    path = tmp_path / "state"
    three_days(path, model_dir, clinic)
    for saves in (1, 2):  # the other writer's generation is in the slot the stale save would take, or beyond
        stale = load_state(path)
        other = EdgeEngine.open(path, model_dir, clinic.device, clinic.recipient)
        for _ in range(saves):
            assert other.state.last_day is not None
            day = other.state.last_day + dt.timedelta(days=1)
            other.ingest_day(day, synthetic_day(day, 3))
        saved = path.read_bytes()
        with pytest.raises(StateError, match="is saved already" if saves == 1 else "changed since it was read"):
            save_state(stale, path)
        assert path.read_bytes() == saved


def _locked_save(path: Path, state: EdgeState) -> tuple[threading.Thread, list[BaseException]]:
    """Start saving `state` in a thread while the test holds the file's lock; the thread and its errors."""
    errors: list[BaseException] = []

    def save() -> None:
        try:
            save_state(state, path)
        except BaseException as exc:  # reported to the test
            errors.append(exc)

    saver = threading.Thread(target=save)
    saver.start()
    saver.join(0.3)
    return saver, errors


def test_a_save_waits_for_the_lock_and_then_sees_a_replaced_file(tmp_path: Path, model_dir: Path,
                                                                  clinic: Clinic) -> None:
    path = tmp_path / "state"
    engine = three_days(path, model_dir, clinic)
    day = DAY0 + dt.timedelta(days=3)
    engine._advance(day, synthetic_day(day, 3), None, NOW)
    before = path.read_bytes()
    with path.open("rb") as held:  # another saver holds the lock
        fcntl.flock(held, fcntl.LOCK_EX)
        saver, errors = _locked_save(path, engine.state)
        assert saver.is_alive() and path.read_bytes() == before  # waiting, nothing written
    saver.join(5)
    assert not errors and load_state(path).last_day == day  # it saved once the lock was free
    stale = load_state(path)
    with path.open("rb") as held:  # the holder re-creates the file while the other save waits
        fcntl.flock(held, fcntl.LOCK_EX)
        saver, errors = _locked_save(path, stale)
        copy = tmp_path / "copy"
        copy.write_bytes(path.read_bytes())
        copy.replace(path)
    saver.join(5)
    assert len(errors) == 1 and isinstance(errors[0], StateError) and "replaced" in str(errors[0])


def test_saves_overwrite_the_older_slot_in_place(tmp_path: Path, model_dir: Path, clinic: Clinic) -> None:
    path = tmp_path / "state"
    engine = three_days(path, model_dir, clinic)
    inode, size = path.stat().st_ino, path.stat().st_size
    previous = path.read_bytes()
    for k in range(3, 6):
        day = DAY0 + dt.timedelta(days=k)
        engine.ingest_day(day, synthetic_day(day, k))
        now = path.read_bytes()
        assert (path.stat().st_ino, len(now)) == (inode, size)  # no new file: the slot was written in place
        assert slot_of(now, engine.state.generation).start % PAGE == 0  # slots never share a page
        kept = slot_of(now, engine.state.generation - 1)
        assert now[kept] == previous[kept]  # the generation before is untouched
        previous = now


def test_init_refuses_to_overwrite_and_open_refuses_another_device(tmp_path: Path, model_dir: Path,
                                                                   clinic: Clinic) -> None:
    path = tmp_path / "state"
    utc_engine(path, model_dir, clinic)
    with pytest.raises(StateError, match="already exists"):
        EdgeEngine.init(path, model_dir, clinic.device, tz="UTC", source="x")
    stranger = Identity.generate("device", patient=clinic.patient.did)
    with pytest.raises(StateError, match="belongs to device"):
        EdgeEngine.open(path, model_dir, stranger, clinic.recipient)


def test_days_must_come_in_order(tmp_path: Path, model_dir: Path, clinic: Clinic) -> None:
    engine = utc_engine(tmp_path / "state", model_dir, clinic)
    engine.ingest_day(DAY0, synthetic_day(DAY0, 0))
    with pytest.raises(StateError, match="not after the last processed day"):
        engine.ingest_day(DAY0, synthetic_day(DAY0, 0))


@pytest.mark.slow
def test_state_size_stays_bounded(tmp_path: Path, model_dir: Path, clinic: Clinic) -> None:
    path = tmp_path / "state"
    engine = utc_engine(path, model_dir, clinic)
    sizes = []
    for k in range(70):
        day = DAY0 + dt.timedelta(days=k)
        engine.ingest_day(day, synthetic_day(day, k))
        sizes.append(path.stat().st_size)
    assert max(sizes) < 200 * 1024
    assert max(sizes[40:]) <= 1.1 * max(sizes[30:40])  # no growth once the history is full
    assert len(engine.state.days) == 29 and engine.state.counts.shape == (7, PER_DAY)


@settings(max_examples=60, deadline=None)
@given(gaps=st.lists(st.integers(min_value=1, max_value=10), min_size=1, max_size=25),
       window=st.integers(min_value=2, max_value=9))
def test_ring_buffer_keeps_exactly_the_last_window_of_days(gaps: list[int], window: int) -> None:
    state = EdgeState("did:key:z", "did:key:d", "UTC", "x", "m", "1", "0" * 64, window_days=window)
    day, fed = DAY0, dict[dt.date, np.ndarray]()
    for gap in gaps:
        day += dt.timedelta(days=gap)
        fed[day] = np.full(PER_DAY, float(len(fed)))
        state.push_day(day, fed[day])
    assert state.last_day == day and state.first_day is not None
    assert len(state.counts) <= window
    for row, values in enumerate(state.counts):
        d = state.first_day + dt.timedelta(days=row)
        expected = fed.get(d, np.full(PER_DAY, np.nan))
        assert np.array_equal(values, expected, equal_nan=True)
    restored = EdgeState.from_payload(state.payload(), "mem")
    assert np.array_equal(restored.counts, state.counts, equal_nan=True) and restored.first_day == state.first_day


def test_states_of_the_earlier_layouts_are_read_and_saved_anew(tmp_path: Path, model_dir: Path,
                                                               clinic: Clinic) -> None:
    path = tmp_path / "state"
    state = three_days(path, model_dir, clinic).state
    payload = state.payload()
    header = json.loads(payload.split(b"\n", 1)[0])
    packed = {name: base64.b64encode(np.ascontiguousarray(a, dtype="<f8").tobytes()).decode("ascii")
              for name, a in (("counts", state.counts), ("features", state.features),
                              ("probability", state.probability))}
    header["counts"]["data"] = packed["counts"]
    header.update(features=packed["features"], probability=packed["probability"])
    v1 = zlib.compress(json.dumps(header).encode("utf-8"))
    for version, body in ((1, v1), (2, payload)):
        path.write_bytes(f"mindbridge-edge-state/{version}\n".encode("ascii")
                         + hashlib.sha256(body).hexdigest().encode("ascii") + b"\n" + body)
        old = load_state(path)
        assert old.seq == state.seq and old.days == state.days and old.first_day == state.first_day, version
        for mine, theirs in ((old.counts, state.counts), (old.features, state.features),
                             (old.probability, state.probability)):
            assert np.array_equal(mine, theirs, equal_nan=True), version
        save_state(old, path)
        assert slot_size(path.read_bytes(), FORMAT) is not None and load_state(path).days == state.days, version


def test_impossible_values_in_a_state_are_refused(tmp_path: Path, model_dir: Path, clinic: Clinic) -> None:
    path = tmp_path / "state"
    text, _, raw = three_days(path, model_dir, clinic).state.payload().partition(b"\n")
    impossible = {"shifts": {"sleep_total": [7, "2024-01-02", "2024-01-03"]},  # direction neither +1 nor -1
                  "cusum": {"l5": [2.0, 0.0, -1, -1]},  # a positive sum without a start day
                  "days": json.loads(text)["days"][::-1]}  # history out of order
    malformed = [("shifts", {"m10": [1, "2024-01-05", "2024-01-03"]}),  # onset after the signal
                 ("cusum", []), ("seq", float("inf"))]  # a list for an object; a number no int holds
    for key, value in [*impossible.items(), *malformed]:
        resealed = json.dumps(json.loads(text) | {key: value}, separators=(",", ":")).encode("utf-8") + b"\n" + raw
        path.unlink()
        write_generation(path, FORMAT, 1, resealed, 0)
        with pytest.raises(StateError, match=str(path)):
            load_state(path)
