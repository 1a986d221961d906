"""A real PgBouncer in front of the suite's PostgreSQL, as many host applications run one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

from tests.support.servers import Server, free_port

Mode = Literal["session", "transaction"]


def pgbouncer_binary() -> str:
    """Debian installs it in /usr/sbin, which a non-root PATH may lack; missing is an error."""
    found = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(found).exists():
        raise RuntimeError("pgbouncer not found: run scripts/install-pgbouncer")
    return found


def start_pgbouncer(pg: Server, mode: Mode, pool_size: int = 2) -> Server:
    """PgBouncer in ``mode`` on a free loopback port, every database of ``pg`` behind it; its
    files beside ``pg``'s folder (removed with it), which its account can reach.

    ``pool_size`` server connections a database: fewer than the worker's pools, so clients
    share them, as they do in production. No ``ignore_startup_parameters``: the worker must
    connect without it. Runs as the ``postgres`` account when started as root (it refuses
    root), as the suite's PostgreSQL does.
    """
    base = pg.workdir.parent / f"pgbouncer-{mode}-{pool_size}"
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    users = base / "userlist.txt"
    users.write_text('"notifier" ""\n')
    config = base / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = host=127.0.0.1 port={pg.port}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {users}\n"
        f"pool_mode = {mode}\ndefault_pool_size = {pool_size}\nmax_client_conn = 500\n"
        "server_reset_query = DISCARD ALL\n"
        # A client waiting this long for a server connection fails at once instead of after
        # two minutes: a worker holding one while it waits for another shows as an error.
        "query_wait_timeout = 10\n"
    )
    argv = [pgbouncer_binary(), str(config)]
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        for path in (users, config):
            shutil.chown(path, "postgres")
        argv = ["runuser", "-u", "postgres", "--", *argv]
    url = f"postgresql+asyncpg://notifier@127.0.0.1:{port}/postgres"
    server = Server(f"pgbouncer-{mode}", port, argv, url, base)
    server.start()
    return server
