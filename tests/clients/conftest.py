"""Fixtures for the client tests: besides the shared server, a second server process on the same
database and store whose noauth identity is a plain member project. The command-line clients
cannot send identity headers, so this is how a test runs them as the project an image is shared
with, the way that project's own users would."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from spyglass_testing import free_port

from .support import MEMBER_ROLES


@dataclass(frozen=True)
class MemberServer:
    url: str
    project_id: str
    user_id: str


@pytest.fixture(scope="session")
def member_server(spyglass_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MemberServer]:
    project_id = f"member-{uuid.uuid4().hex[:12]}"
    user_id = f"user-{uuid.uuid4().hex[:12]}"
    base = tmp_path_factory.mktemp("member-server")
    shared = spyglass_server.config_file.read_text() if spyglass_server.config_file else ""
    config = base / "member.conf"
    config.write_text(shared + f"\n[noauth]\nproject_id = {project_id}\nuser_id = {user_id}\n"
                               f"roles = {MEMBER_ROLES}\n")
    server = type(spyglass_server)(data_dir=spyglass_server.data_dir, port=free_port(), config_file=config)
    server.log_path = base / "server.log"
    server.start()
    try:
        yield MemberServer(server.url, project_id, user_id)
    finally:
        server.stop()
