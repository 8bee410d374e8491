"""ReadyLocalProcessSpawner: distinct ports for workspaces starting together."""

from unittest import mock

from imad_extension import spawner_local
from imad_extension.spawner_local import ReadyLocalProcessSpawner


async def test_workspaces_starting_together_never_share_a_port(monkeypatch):
    # random_port() answers what is free now; under load two spawns can draw the same one
    draws = iter([40001, 40001, 40001, 40002])
    monkeypatch.setattr(spawner_local, "random_port", lambda: next(draws))
    monkeypatch.setattr(spawner_local, "_PORTS_IN_USE", set())
    ports = []

    async def fake_start(self):
        ports.append(self.port)
        return ("127.0.0.1", self.port)

    with mock.patch.object(spawner_local.SimpleLocalProcessSpawner, "start", fake_start):
        for _ in range(2):
            spawner = ReadyLocalProcessSpawner(ready_wait=0)
            await spawner.start()
    assert ports == [40001, 40002]
    spawner.clear_state()
    assert spawner_local._PORTS_IN_USE == {40001}
