"""Replay guards: the same rules in memory and in SQLite, persistence, and no change on refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindbridge.privacy.errors import ReplayDetected
from mindbridge.privacy.replay import MemoryReplayGuard, SqliteReplayGuard

events = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 6), st.sampled_from("pqrstuvw")),
                  max_size=25)


@settings(max_examples=40, deadline=None)
@given(events)
def test_sqlite_and_memory_guards_agree(tmp_path_factory: pytest.TempPathFactory,
                                        seq: list[tuple[str, int, str]]) -> None:
    memory = MemoryReplayGuard()
    sqlite = SqliteReplayGuard(tmp_path_factory.mktemp("g") / "r.sqlite")
    model: dict[str, int] = {}
    seen: set[str] = set()
    for sender, n, eid in seq:
        expected_ok = eid not in seen and (sender not in model or n > model[sender])
        for guard in (memory, sqlite):
            before = guard.state()
            if expected_ok:
                guard.record(sender, n, eid)
            else:
                with pytest.raises(ReplayDetected):
                    guard.record(sender, n, eid)
                assert guard.state() == before
        if expected_ok:
            model[sender] = n
            seen.add(eid)
        assert memory.state() == sqlite.state() == (model, frozenset(seen))
    sqlite.close()


def test_sqlite_guard_persists(tmp_path: Path) -> None:
    guard = SqliteReplayGuard(tmp_path / "r.sqlite")
    guard.record("dev", 3, "e1")
    guard.close()
    again = SqliteReplayGuard(tmp_path / "r.sqlite")
    with pytest.raises(ReplayDetected, match="already accepted"):
        again.check("dev", 4, "e1")
    with pytest.raises(ReplayDetected, match="not above"):
        again.check("dev", 3, "e2")
    again.record("dev", 4, "e2")
    assert again.state() == ({"dev": 4}, frozenset({"e1", "e2"}))
