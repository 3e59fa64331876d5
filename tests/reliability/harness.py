"""Shared machinery of the reliability suite: standard library only.

- `Client`: a small asyncio HTTP/1.1 client with a keep-alive connection
  pool, so hundreds of requests can be in flight at once without httpx.
- `Database`: a fresh SQLite file or PostgreSQL database per part, queried
  directly (sqlite3 module / psql) to check what was really stored.
- `Server`: one keygate process on a free port: start, wait until ready,
  SIGKILL, restart on the same port, stop.
- `Report`: the checks of one part and its summary lines.

Every process and database made here is written to the state file
(`KEYGATE_RELIABILITY_STATE`), so `run`'s trap can remove them even when
this process itself is killed.
"""

import asyncio
import base64
import hashlib
import json
import os
import random
import re
import secrets as pysecrets
import shlex
import signal
import socket
import sqlite3
import string
import subprocess
import sys
import time
import zlib

BIN = os.environ.get("KEYGATE_BIN", "")
OUT = os.environ.get("KEYGATE_RELIABILITY_OUT", os.path.join(os.getcwd(), "target", "reliability"))
STATE = os.environ.get("KEYGATE_RELIABILITY_STATE", "")
PG_ADMIN = os.environ.get(
    "KEYGATE_RELIABILITY_PG",
    os.environ.get("KEYGATE_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
)


def env_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def env_float(name, default):
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


def server_env_passthrough():
    """`KEYGATE_RELIABILITY_SERVER_ENV`: space-separated NAME=VALUE pairs
    (shell quoting allowed) given to every keygate the suite starts, after
    the suite's own settings, so they can also override those."""
    out = {}
    for item in shlex.split(os.environ.get("KEYGATE_RELIABILITY_SERVER_ENV", "")):
        name, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise SystemExit(f"KEYGATE_RELIABILITY_SERVER_ENV: not NAME=VALUE: {item!r}")
        out[name] = value
    return out


def remember(kind, *fields):
    """Notes a resource for the trap in `run`."""
    if STATE:
        with open(STATE, "a") as f:
            f.write(" ".join([kind, *map(str, fields)]) + "\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- keys

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def make_key(kind="ak"):
    """A well-formed keygate key (`kg_<kind>_` + 32 base62 + base62 CRC32),
    as `keygate keys generate` makes: with a correct checksum, so keygate
    has to look it up."""
    body = f"kg_{kind}_" + "".join(pysecrets.choice(BASE62) for _ in range(32))
    n = zlib.crc32(body.encode())
    digits = []
    for _ in range(6):
        digits.append(BASE62[n % 62])
        n //= 62
    return body + "".join(reversed(digits))


def key_hash(key):
    return hashlib.sha256(key.encode()).hexdigest()


def master_key():
    return base64.b64encode(os.urandom(32)).decode()


# ---------------------------------------------------------------- HTTP


class Response:
    __slots__ = ("status", "headers", "body", "elapsed")

    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers
        self.body = body
        self.elapsed = elapsed

    def json(self):
        return json.loads(self.body) if self.body else None

    def header(self, name):
        return self.headers.get(name.lower())

    def code(self):
        """The problem `code` of an error answer, if any."""
        try:
            body = self.json()
            return body.get("code") if isinstance(body, dict) else None
        except ValueError:
            return None

    def __repr__(self):
        return f"<{self.status} {self.body[:200]!r}>"


class Client:
    """HTTP/1.1 to one keygate, with up to `max_conns` connections in use at
    once. A request is never retried: the caller sees every failure (what
    the kill part needs to know which writes were acknowledged)."""

    IDLE_SECONDS = 2.0  # actix closes keep-alive connections idle for 5 s

    def __init__(self, port, max_conns=64, timeout=30.0, host="127.0.0.1"):
        self.host, self.port, self.timeout = host, port, timeout
        self.sem = asyncio.Semaphore(max_conns)
        self.idle = []

    async def close(self):
        while self.idle:
            _, w, _ = self.idle.pop()
            w.close()

    async def warm(self, n):
        """Opens `n` connections ahead, so a burst of `n` requests starts
        together instead of waiting for TCP handshakes one by one."""
        await asyncio.gather(*(self.request("GET", "/healthz") for _ in range(n)))

    async def _connection(self):
        now = time.monotonic()
        while self.idle:
            r, w, t = self.idle.pop()
            if now - t < self.IDLE_SECONDS and not w.is_closing() and not r.at_eof():
                return r, w
            w.close()
        return await asyncio.open_connection(self.host, self.port)

    async def request(self, method, path, *, key=None, body=None, headers=None,
                      timeout=None, raw_body=None):
        async with self.sem:
            start = time.monotonic()
            conn = []
            try:
                return await asyncio.wait_for(
                    self._exchange(conn, method, path, key, body, headers, raw_body, start),
                    timeout if timeout is not None else self.timeout)
            except BaseException:
                if conn:
                    conn[0][1].close()
                raise

    async def _exchange(self, conn, method, path, key, body, headers, raw_body, start):
        r, w = await self._connection()
        conn.append((r, w))
        payload = raw_body if raw_body is not None else (
            json.dumps(body).encode() if body is not None else b"")
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 f"Content-Length: {len(payload)}"]
        if body is not None:
            lines.append("Content-Type: application/json")
        if key is not None:
            lines.append(f"Authorization: Bearer {key}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        w.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        await w.drain()
        status_line = await r.readline()
        if not status_line:
            raise ConnectionResetError("connection closed before an answer")
        status = int(status_line.split()[1])
        answer_headers = {}
        while True:
            line = await r.readline()
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise ConnectionResetError("connection closed in the headers")
            name, _, value = line.decode("latin-1").partition(":")
            answer_headers[name.strip().lower()] = value.strip()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            data = b""
        elif answer_headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await r.readline()).split(b";")[0], 16)
                if size == 0:
                    while (await r.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(await r.readexactly(size))
                await r.readexactly(2)
            data = b"".join(chunks)
        elif "content-length" in answer_headers:
            data = await r.readexactly(int(answer_headers["content-length"]))
        else:
            data = await r.read()
            answer_headers["connection"] = "close"
        if answer_headers.get("connection", "").lower() == "close":
            w.close()
        else:
            self.idle.append((r, w, time.monotonic()))
        conn.clear()
        return Response(status, answer_headers, data, time.monotonic() - start)

    # Shorthands ---------------------------------------------------------

    async def get(self, path, key=None, **kw):
        return await self.request("GET", path, key=key, **kw)

    async def post(self, path, body=None, key=None, **kw):
        return await self.request("POST", path, key=key, body=body, **kw)

    async def put(self, path, body=None, key=None, **kw):
        return await self.request("PUT", path, key=key, body=body, **kw)

    async def patch(self, path, body=None, key=None, **kw):
        return await self.request("PATCH", path, key=key, body=body, **kw)

    async def delete(self, path, key=None, **kw):
        return await self.request("DELETE", path, key=key, **kw)


async def expect(resp_coro, status, what):
    """Awaits a request that must answer `status` (int or tuple)."""
    resp = await resp_coro
    wanted = status if isinstance(status, tuple) else (status,)
    if resp.status not in wanted:
        raise SetupError(f"{what}: expected {status}, got {resp.status} {resp.body[:300]!r}")
    return resp


class SetupError(Exception):
    """The part could not be prepared (not a finding about keygate)."""


# ---------------------------------------------------------------- database


def psql(url, sql, check=True):
    res = subprocess.run(["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-F", "\t", "-c", sql],
                         capture_output=True, text=True, timeout=60)
    if check and res.returncode != 0:
        raise SetupError(f"psql: {res.stderr.strip()}")
    return [line.split("\t") for line in res.stdout.splitlines() if line != ""]


def postgres_reachable():
    try:
        psql(PG_ADMIN, "SELECT 1")
        return True
    except (SetupError, OSError, subprocess.TimeoutExpired):
        return False


class Database:
    """A fresh database of one backend for one part."""

    def __init__(self, backend, label):
        self.backend = backend
        self.label = label
        if backend == "sqlite":
            folder = os.path.join(OUT, "data", f"{label}-{os.getpid()}-{int(time.time())}")
            os.makedirs(folder, exist_ok=True)
            self.path = os.path.join(folder, "keygate.db")
            self.url = f"sqlite://{self.path}"
            self.name = None
        elif backend == "postgres":
            safe = re.sub(r"[^a-z0-9_]", "_", label.lower())
            self.name = (f"keygate_rel_{safe}_{int(time.time())}_{os.getpid()}_"
                         f"{random.randrange(10**6)}")
            remember("db", self.name)
            psql(PG_ADMIN, f"CREATE DATABASE {self.name}")
            self.url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{self.name}"
            self.path = None
        else:
            raise SystemExit(f"unknown backend {backend!r}")

    def url_via(self, host, port):
        """The keygate URL of this PostgreSQL database through host:port."""
        head, _, dbname = self.url.rpartition("/")
        scheme, _, rest = head.partition("://")
        userinfo = rest.rsplit("@", 1)[0] + "@" if "@" in rest else ""
        return f"{scheme}://{userinfo}{host}:{port}/{dbname}"

    def query(self, sql, params=()):
        """Rows as lists of strings (None for NULL on SQLite). `params` are
        substituted as quoted literals (only for the suite's own values)."""
        if self.backend == "sqlite":
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            try:
                return [[None if v is None else str(v) for v in row]
                        for row in conn.execute(sql.replace("%s", "?"), params).fetchall()]
            finally:
                conn.close()
        for p in params:
            if not re.fullmatch(r"[A-Za-z0-9_.:\-]*", str(p)):
                raise ValueError(f"unsafe literal {p!r}")
        text = sql
        for p in params:
            text = text.replace("%s", f"'{p}'", 1)
        return psql(self.url, text)

    def execute(self, sql, params=()):
        """A write, for the suite's self-checks (tampering on purpose)."""
        if self.backend == "sqlite":
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                conn.execute(sql.replace("%s", "?"), params)
                conn.commit()
            finally:
                conn.close()
            return
        self.query(sql, params)

    def scalar(self, sql, params=()):
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def audit_bytes(self):
        """What the audit table and its indexes occupy."""
        if self.backend == "sqlite":
            return int(self.scalar(
                "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = 'audit_events' "
                "OR name IN (SELECT name FROM sqlite_master WHERE tbl_name = 'audit_events')"))
        return int(self.scalar("SELECT pg_total_relation_size('audit_events')"))

    def drop(self):
        if self.name:
            psql(PG_ADMIN, f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)", check=False)
            self.name = None


# ---------------------------------------------------------------- server


class Server:
    """One keygate process. `restart()` reuses the port, so clients simply
    reconnect."""

    def __init__(self, label, db_url, *, env=None, port=None):
        if not BIN or not os.access(BIN, os.X_OK):
            raise SystemExit(f"KEYGATE_BIN is not an executable: {BIN!r}")
        self.label = label
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.bootstrap_key = make_key("ak")
        self.log_path = os.path.join(OUT, f"server-{label}.log")
        self.env = dict(os.environ)
        for name in list(self.env):
            if name.startswith("KEYGATE_") or name == "DATABASE_URL":
                del self.env[name]
        self.env.update({
            "DATABASE_URL": db_url,
            "KEYGATE_BIND": f"127.0.0.1:{self.port}",
            "KEYGATE_BOOTSTRAP_KEY": self.bootstrap_key,
            "KEYGATE_MASTER_KEY": master_key(),
            # The parts' timing assumes entries forgotten after 1 s (the
            # default is 60 s since invalidation reaches other nodes).
            "KEYGATE_AUTH_CACHE_TTL_MS": "1000",
            "RUST_LOG": os.environ.get("KEYGATE_RELIABILITY_RUST_LOG", "warn"),
        })
        self.env.update(env or {})
        self.env.update(server_env_passthrough())
        self.proc = None
        self.starts = 0
        with open(self.log_path, "w") as log:
            passed = " ".join(f"{k}=..." for k in server_env_passthrough())
            log.write(f"# {label}: {BIN} on {self.base}; extra env: {passed or '(none)'}\n")

    def start(self, wait=True, ready_timeout=20.0):
        self.starts += 1
        with open(self.log_path, "a") as log:
            log.write(f"\n# start {self.starts} at {time.strftime('%H:%M:%S')}\n")
            log.flush()
            self.proc = subprocess.Popen([BIN], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        remember("pid", self.proc.pid, BIN)
        if wait:
            return self.wait_ready(ready_timeout)
        return 0.0

    def wait_ready(self, timeout=20.0):
        """Seconds until `/readyz` said 200."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise SetupError(f"keygate exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.settimeout(6)
                    s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return time.monotonic() - start
            except OSError:
                pass
            time.sleep(0.02)
        raise SetupError(f"keygate not ready after {timeout}s; see {self.log_path}")

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        with open(self.log_path, "a") as log:
            log.write(f"# SIGKILL at {time.strftime('%H:%M:%S')}\n")

    def restart_after_kill(self, ready_timeout=20.0):
        self.kill9()
        for attempt in range(50):
            try:
                return self.start(ready_timeout=ready_timeout)
            except SetupError:
                # The old listener can linger for a moment: try again.
                if self.proc.poll() is None or attempt == 49:
                    raise
                time.sleep(0.1)
        raise SetupError("unreachable")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def mint_key(self, db_url, role="personal", name="reliability"):
        """A key made directly in the database (`keygate keys create`)."""
        env = dict(self.env, DATABASE_URL=db_url)
        res = subprocess.run([BIN, "keys", "create", "--org", "default", "--name", name,
                              "--role", role], env=env, capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise SetupError(f"keys create: {res.stderr.strip()}")
        return res.stdout.strip()


# ---------------------------------------------------------------- report


class Report:
    """The checks of one part on one backend. `ok`/`fail` print one line
    each; `summary()` prints the part's closing line and returns the exit
    code."""

    def __init__(self, part, backend):
        self.tag = f"{part}/{backend}"
        self.failures = []
        self.lines = []

    def note(self, text):
        print(f"   {self.tag}: {text}", flush=True)

    def check(self, passed, text, detail=""):
        line = f"{self.tag}: {text} — {'ok' if passed else 'FAIL'}"
        if not passed and detail:
            line += f" ({detail})"
        print(line, flush=True)
        self.lines.append(line)
        if not passed:
            self.failures.append(text)
        return passed

    def summary(self):
        path = os.path.join(OUT, "summary.txt")
        with open(path, "a") as f:
            for line in self.lines:
                f.write(line + "\n")
        return 1 if self.failures else 0


def percentile(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


def statuses(responses):
    """`{status: count}` of answers; exceptions count under their type name."""
    out = {}
    for r in responses:
        label = r.status if isinstance(r, Response) else type(r).__name__
        out[label] = out.get(label, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: str(kv[0])))


def log(text):
    print(text, file=sys.stderr, flush=True)
