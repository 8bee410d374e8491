"""Shared fixtures. ``classroom``: one real local classroom for the session's tests."""

import pytest

from .classroom import Classroom

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture(scope="session")
def classroom(tmp_path_factory):
    room = Classroom(tmp_path_factory.mktemp("classroom"))
    room.start()
    yield room
    room.stop()
