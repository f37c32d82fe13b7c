"""Fixtures for the hub service: a database on SQLite (WAL file) and on PostgreSQL, a hub, a live server.

PostgreSQL: one database per test session (created and dropped here), one schema per test; tests on it
are skipped, saying why, only when the server at $MINDBRIDGE_TEST_PG is unreachable.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from mindbridge.hub.app import create_app
from mindbridge.hub.db import sqlite_url
from mindbridge.hub.service import Hub, Settings
from mindbridge.privacy.keys import Identity

from hubworld import BACKENDS, CLINIC_DID, free_port, pg_schema_url  # isort: skip

PG_ADMIN = os.environ.get("MINDBRIDGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (URL), dropped at the end."""
    import psycopg

    name = f"mindbridge_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN}: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: a SQLite file (WAL), or an empty PostgreSQL schema."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "hub.sqlite")
    return pg_schema_url(request.getfixturevalue("pg_database"))


@pytest.fixture
def clinic() -> Identity:
    """The clinic's identity."""
    return Identity.generate("clinic", web_did=CLINIC_DID)


@pytest.fixture
def hub(db_url: str, clinic: Identity) -> Iterator[Hub]:
    """A started hub (schema migrated) on the test's database."""
    started = Hub.start(Settings(database_url=db_url, cycle_debounce=0.01), clinic)
    yield started
    started.close()


@pytest.fixture
def now() -> dt.datetime:
    """The real current time (the HTTP intake checks envelopes against it)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def live(hub: Hub) -> Iterator[str]:
    """The hub served by uvicorn on loopback in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
