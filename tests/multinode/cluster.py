"""The suite's own PostgreSQL: a primary made with `initdb` and a hot
standby made from it with `pg_basebackup -R -X stream`, both on free
loopback ports, in one temporary folder owned by the `postgres` OS user.

The shared server on 127.0.0.1:5432 is never touched: it has no
replication line in its pg_hba.conf, and the suite must not edit or
restart it, so the primary is the suite's own too.

The server programs refuse to run as root, so when the suite runs as root
they run as `postgres` through `runuser -u postgres --`; otherwise as the
current user. Every data folder is written to the state file
(`remember("pgdata", ...)`), so `run`'s trap stops it with
`pg_ctl -m immediate stop` even when this process was killed.

Replication is synchronous (`synchronous_standby_names = '*'`, set once the
standby streams): a commit is acknowledged only once the standby has
flushed it, so after a failover every write keygate acknowledged must be
on the new primary, and a lost one is keygate's fault, not the
replication's. `KEYGATE_MULTINODE_SYNC_REP=0` keeps it asynchronous.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from harness import OUT, SetupError, env_int, psql, remember


def pg_bin_dir():
    given = os.environ.get("KEYGATE_MULTINODE_PG_BIN", "").strip()
    if given:
        return given
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if not found:
        raise SetupError("no /usr/lib/postgresql/*/bin/initdb; set KEYGATE_MULTINODE_PG_BIN")
    return os.path.dirname(found[-1])


def port_free(port):
    with socket.socket() as s:
        # As PostgreSQL does: a port with connections in TIME_WAIT is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return not glob.glob(f"/tmp/.s.PGSQL.{port}*") and not glob.glob(
        f"/var/run/postgresql/.s.PGSQL.{port}*")


def pick_ports(n):
    """`KEYGATE_MULTINODE_PG_PORTS` ("P1 P2"), or the first free ones from
    5440 up (then any free port)."""
    given = os.environ.get("KEYGATE_MULTINODE_PG_PORTS", "").split()
    if given:
        if len(given) != n:
            raise SetupError(f"KEYGATE_MULTINODE_PG_PORTS needs {n} ports")
        return [int(p) for p in given]
    ports = [p for p in range(5440, 5500) if port_free(p)][:n]
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    return ports


class Instance:
    def __init__(self, name, root, port, sock):
        self.name, self.port, self.sock = name, port, sock
        self.data = os.path.join(root, name)
        self.log = os.path.join(root, f"{name}.log")

    def url(self, db="postgres"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}?sslmode=disable"


class PgPair:
    """Primary + hot standby. `start()` makes both and the database `db`;
    `promote()`, `stop_primary()`; `close()` stops both and removes the
    folder (its logs are copied to OUT first)."""

    def __init__(self, db="keygate"):
        self.bin = pg_bin_dir()
        self.db = db
        self.as_root = os.geteuid() == 0
        self.root = None
        self.primary = self.standby = None
        self.writer = None  # the instance that takes writes now
        self.sync = os.environ.get("KEYGATE_MULTINODE_SYNC_REP", "1") != "0"

    # -- running the server programs

    def _cmd(self, prog, *args, timeout=120, check=True):
        argv = [os.path.join(self.bin, prog), *args]
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
        if check and res.returncode != 0:
            raise SetupError(f"{prog} {' '.join(args[:3])}: {(res.stderr or res.stdout).strip()[-600:]}")
        return res

    def _start(self, inst):
        self._cmd("pg_ctl", "-D", inst.data, "-l", inst.log, "-w", "-t", "60",
                  "-o", f"-p {inst.port} -k {inst.sock} -c listen_addresses=127.0.0.1", "start")

    def stop(self, inst, mode="immediate"):
        if inst and os.path.isdir(inst.data):
            self._cmd("pg_ctl", "-D", inst.data, "-m", mode, "-w", "-t", "30", "stop",
                      check=False)

    # -- set-up

    def start(self):
        p1, p2 = pick_ports(2)
        self.root = tempfile.mkdtemp(prefix="keygate-multinode-")
        remember("pgroot", self.root)
        sock = os.path.join(self.root, "sock")
        os.makedirs(sock)
        if self.as_root:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise SetupError("running as root needs a `postgres` OS user") from None
            for path in (self.root, sock):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        self.primary = Instance("primary", self.root, p1, sock)
        self.standby = Instance("standby", self.root, p2, sock)
        remember("pgdata", self.primary.data, self.bin)
        remember("pgdata", self.standby.data, self.bin)

        self._cmd("initdb", "-D", self.primary.data, "--auth=trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8", "--locale=C")
        with open(os.path.join(self.primary.data, "postgresql.conf"), "a") as f:
            # Three keygate pools, their listeners, the suite's own psql.
            f.write("\n# keygate multinode suite\nmax_connections = 300\n"
                    "wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\n"
                    "fsync = on\nlog_line_prefix = '%m [%p] %a '\n")
        with open(os.path.join(self.primary.data, "pg_hba.conf"), "a") as f:
            f.write("host replication all 127.0.0.1/32 trust\n")
        self._start(self.primary)
        psql(self.primary.url(), f"CREATE DATABASE {self.db}")
        self._cmd("pg_basebackup", "-h", "127.0.0.1", "-p", str(p1), "-U", "postgres",
                  "-D", self.standby.data, "-R", "-X", "stream", "-c", "fast", "-C",
                  "-S", "keygate_standby")
        self._start(self.standby)
        self.writer = self.primary
        self._wait_streaming()
        if self.sync:
            psql(self.primary.url(), "ALTER SYSTEM SET synchronous_standby_names = '*'")
            psql(self.primary.url(), "SELECT pg_reload_conf()")
            self._wait_streaming(want_sync=True)
        return self

    def _wait_streaming(self, want_sync=False, timeout=30):
        start = time.monotonic()
        rows = []
        while time.monotonic() - start < timeout:
            rows = psql(self.primary.url(), "SELECT state, sync_state FROM pg_stat_replication")
            if rows and rows[0][0] == "streaming" and (not want_sync or rows[0][1] == "sync"):
                return rows[0]
            time.sleep(0.1)
        raise SetupError(f"the standby does not stream{' synchronously' if want_sync else ''}: {rows}")

    def replication(self):
        """`state/sync_state` of the standby as the primary sees it."""
        rows = psql(self.primary.url(), "SELECT state, sync_state FROM pg_stat_replication",
                    check=False)
        return "/".join(rows[0]) if rows else "none"

    def keygate_url(self):
        """libpq's multi-host URI: the first host that takes writes wins."""
        params = os.environ.get("KEYGATE_MULTINODE_URL_PARAMS",
                                "target_session_attrs=read-write&sslmode=disable")
        return (f"postgres://postgres@127.0.0.1:{self.primary.port},127.0.0.1:"
                f"{self.standby.port}/{self.db}?{params}")

    def url(self):
        """The suite's own URL of keygate's database on the current writer."""
        return self.writer.url(self.db)

    def query(self, sql, check=True):
        return psql(self.url(), sql, check=check)

    # -- failover

    def stop_primary(self, mode="immediate"):
        self.stop(self.primary, mode)

    def promote(self):
        self._cmd("pg_ctl", "-D", self.standby.data, "-w", "-t", "60", "promote")
        self.writer = self.standby

    # -- teardown

    def close(self):
        if not self.root:
            return
        for inst in (self.standby, self.primary):
            self.stop(inst)
        for inst in (self.primary, self.standby):
            if inst and os.path.exists(inst.log):
                try:
                    shutil.copy(inst.log, os.path.join(OUT, f"postgres-{inst.name}.log"))
                except OSError:
                    pass
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None


# The listener's connection, as the suite finds it in pg_stat_activity: by
# the application_name the implementer is asked to set, or by its last
# statement (an idle LISTEN connection shows `LISTEN <channel>`).
LISTENER_APP = os.environ.get("KEYGATE_MULTINODE_LISTENER_APP", "keygate-listener")
LISTENER_WHERE = (f"pid <> pg_backend_pid() AND backend_type = 'client backend' AND "
                  f"(application_name = '{LISTENER_APP}' OR query ILIKE 'LISTEN%')")


def listener_count(pair):
    rows = pair.query(f"SELECT count(*) FROM pg_stat_activity WHERE {LISTENER_WHERE}",
                      check=False)
    return int(rows[0][0]) if rows else 0


class ListenerKiller:
    """A thread that terminates every listener connection every
    `interval` seconds over one psql session, counting the kills."""

    def __init__(self, pair, interval):
        self.pair, self.interval = pair, interval
        self.kills = 0
        self.rounds = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="listener-killer", daemon=True)
        self.proc = None
        self.error = None

    def start(self):
        self.proc = subprocess.Popen(["psql", self.pair.url(), "-XAtq", "-v", "ON_ERROR_STOP=1"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.thread.start()
        return self

    def _run(self):
        sql = (f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
               f"WHERE {LISTENER_WHERE};\n")
        try:
            while not self.stopping.is_set():
                self.proc.stdin.write(sql)
                self.proc.stdin.flush()
                line = self.proc.stdout.readline()
                if not line:
                    self.error = "psql ended"
                    return
                self.kills += int(line.strip() or 0)
                self.rounds += 1
                self.stopping.wait(self.interval)
        except (OSError, ValueError) as err:
            self.error = str(err)

    def stop(self):
        self.stopping.set()
        self.thread.join(10)
        if self.proc:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def kill_interval():
    return env_int("KEYGATE_MULTINODE_KILL_EVERY_MS", 50) / 1000
