"""One ``notifier dev`` process with no configuration, shared by the tests of this folder.

Starting it costs a minute of waiting for the demo's minute-tick mail, so the tests that only
look at a running instance share it; tests about starting and stopping run their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dev import DevProcess


@pytest.fixture(scope="package")
def dev_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    folder: Path = tmp_path_factory.mktemp("notifier-dev")
    run = DevProcess.start(folder)
    try:
        run.wait_ready()
        yield run
    finally:
        code = run.interrupt()
        assert code == 0, f"notifier dev exited {code} on Ctrl-C:\n{run.output()}"
