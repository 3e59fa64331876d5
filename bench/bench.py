#!/usr/bin/env python3
"""The driver of bench/run: starts keygate and the anchors, loads the data,
runs interleaved rounds and prints one table of medians and ratios.

bench/run builds the binaries and installs the tools, then runs this file.
It is configured by environment variables (see docs/PERFORMANCE.md):
BENCH_SMOKE=1 (about a minute, numbers not meaningful), BENCH_BIN_DIR,
BENCH_OHA, BENCH_OUT, BENCH_CONNECTIONS, BENCH_ROUNDS, BENCH_SECONDS,
BENCH_RUST_LOG, KEYGATE_TEST_DATABASE_URL. Everything it starts it stops,
and every database it creates it drops, also on Ctrl-C.
"""

import base64
import concurrent.futures
import datetime
import hashlib
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import string
import subprocess
import sys
import tempfile
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUA = os.path.join(ROOT, "bench", "request.lua")
BIN = os.environ.get("BENCH_BIN_DIR", os.path.join(ROOT, "target", "release"))
KEYGATE = os.path.join(BIN, "keygate")
ANCHOR = os.path.join(BIN, "examples", "bench_anchor")
SQLITE_LOOP = os.path.join(BIN, "examples", "bench_sqlite")
OHA = os.environ.get("BENCH_OHA", "oha")
OUT = os.environ.get("BENCH_OUT", os.path.join(ROOT, "target", "bench"))
PG_ADMIN = os.environ.get("KEYGATE_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PG_BASE = PG_ADMIN.rsplit("/", 1)[0]

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1" if SMOKE else "2"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "1" if SMOKE else "5"))
WARMUP = 0 if SMOKE else 1
CONNS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
LIGHT = 4  # connections of the light-load latency runs
WRK_THREADS = 2
N_TARGETS = 200 if SMOKE else 1_000  # keys created through the API (GET, PATCH)
N_1K, N_10K = 1_000, 10_000
N_BIG = 20_000 if SMOKE else 1_000_000
N_MISS_FILE = 200_000  # distinct keys handed to wrk: more than a round uses
START_SAMPLES = 1 if SMOKE else 3
RUST_LOG = os.environ.get("BENCH_RUST_LOG", "info")
# The machine is shared: wait (up to BENCH_WAIT_S) until other programs use
# less than BENCH_MAX_BUSY of its CPU time before measuring.
MAX_BUSY = float(os.environ.get("BENCH_MAX_BUSY", "0.25"))
WAIT_S = int(os.environ.get("BENCH_WAIT_S", "0" if SMOKE else "600"))
RUN_ID = f"{os.getpid()}_{int(time.time())}"

PROCS = []  # everything started, stopped at exit
DATABASES = []  # PostgreSQL databases created, dropped at exit
WORK = tempfile.mkdtemp(prefix="keygate-bench-")
RAW = {"rounds": [], "startup": [], "notes": [], "targets": []}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fail(msg):
    raise SystemExit(f"bench: {msg}")


# ---------------------------------------------------------------- helpers


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(url, sql, stdin=None):
    out = subprocess.run(
        ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url, "-c" if stdin is None else "-f", sql if stdin is None else "-"],
        input=stdin,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        fail(f"psql failed: {out.stderr.strip()}")
    return out.stdout.strip()


def create_pg_database(suffix):
    name = f"keygate_bench_{RUN_ID}_{suffix}"
    psql(PG_ADMIN, f"CREATE DATABASE {name}")
    DATABASES.append(name)
    return name


def drop_pg_database(name):
    subprocess.run(
        ["psql", "-X", "-q", PG_ADMIN, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
        capture_output=True,
    )
    if name in DATABASES:
        DATABASES.remove(name)


def request(url, method, path, key=None, body=None, timeout=10):
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    res = conn.getresponse()
    text = res.read()
    conn.close()
    return res.status, (json.loads(text) if text and res.getheader("content-type", "").find("json") >= 0 else text)


def rss_kib(pid):
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value, _ = line.split()
                values[name[:-1]] = int(value)
    return values


def cpu_busy(seconds=3.0):
    """The share of all CPUs' time spent busy over the next `seconds`."""

    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait

    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return 1 - (i1 - i0) / max(1, t1 - t0)


def wait_for_quiet():
    busy = cpu_busy()
    deadline = time.monotonic() + WAIT_S
    while busy > MAX_BUSY and time.monotonic() < deadline:
        log(f"the CPUs are {busy:.0%} busy with other work; waiting for < {MAX_BUSY:.0%} (BENCH_MAX_BUSY)")
        time.sleep(20)
        busy = cpu_busy()
    if busy > MAX_BUSY:
        log(f"measuring anyway with the CPUs {busy:.0%} busy: expect noisy numbers")
    return busy


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ------------------------------------------------------------- key format

B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def checksum(body):
    n = zlib.crc32(body.encode())
    out = []
    for _ in range(6):
        out.append(B62[n % 62])
        n //= 62
    return "".join(reversed(out))


def bench_keys(tag, count):
    """`count` well-formed `kg_ak_` keys: a run tag, a counter, the CRC."""
    keys = []
    for i in range(count):
        body = f"kg_ak_{tag}{i:024d}"
        keys.append(body + checksum(body))
    return keys


def key_id(i):
    return f"aky_f{i:031x}"


# ----------------------------------------------------------------- servers


class Process:
    """A started program, stopped (SIGTERM, then SIGKILL) at exit."""

    def __init__(self, name, argv, env=None):
        self.name = name
        self.log_path = os.path.join(WORK, f"{name}.log")
        self.logf = open(self.log_path, "ab")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, env=env, stdout=self.logf, stderr=self.logf, start_new_session=True)
        PROCS.append(self)

    def stop(self):
        """SIGTERM, then the time until the process has exited, in ms."""
        if self.proc.poll() is not None:
            return None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            self.logf.close()
            if self in PROCS:
                PROCS.remove(self)
        return (time.monotonic() - t0) * 1000


def wait_ready(proc, url, timeout=30):
    """ms from spawn to the first 200 from /readyz."""
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            fail(f"{proc.name} exited; its log:\n" + open(proc.log_path).read()[-3000:])
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=1)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                conn.close()
                return (time.monotonic() - proc.started) * 1000
            conn.close()
        except OSError:
            pass
        time.sleep(0.002)
    fail(f"{proc.name} was not ready within {timeout} s; its log:\n" + open(proc.log_path).read()[-3000:])


class Keygate:
    def __init__(self, name, backend, bootstrap, master, rust_log=RUST_LOG):
        self.name, self.backend = name, backend
        self.bootstrap, self.master, self.rust_log = bootstrap, master, rust_log
        if backend == "sqlite":
            self.path = os.path.join(WORK, f"{name}.db")
            self.db_url = f"sqlite://{self.path}"
        else:
            self.db = create_pg_database(name)
            self.db_url = f"{PG_BASE}/{self.db}"
        self.proc = None
        self.url = None

    def start(self):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = dict(
            os.environ,
            DATABASE_URL=self.db_url,
            KEYGATE_BIND=f"127.0.0.1:{port}",
            KEYGATE_BOOTSTRAP_KEY=self.bootstrap,
            KEYGATE_MASTER_KEY=self.master,
            RUST_LOG=self.rust_log,
        )
        self.proc = Process(f"keygate-{self.name}", [KEYGATE, "serve"], env)
        return wait_ready(self.proc, self.url)

    def stop(self):
        return self.proc.stop()

    @property
    def pid(self):
        return self.proc.proc.pid

    def drop(self):
        if self.proc:
            self.proc.stop()
        if self.backend == "postgres":
            drop_pg_database(self.db)
        else:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.path + suffix):
                    os.remove(self.path + suffix)


def generate_key():
    return subprocess.run([KEYGATE, "keys", "generate"], capture_output=True, text=True, check=True).stdout.strip()


def master_key():
    return base64.b64encode(os.urandom(32)).decode()


# -------------------------------------------------------------- data setup


def load_sqlite(server, keys, first_index=0):
    """Inserts keys (rows shaped as the API makes them) into a stopped server's file."""
    con = sqlite3.connect(server.path)
    con.execute("PRAGMA cache_size = -262144")
    org, ts = con.execute(
        "SELECT o.id, k.created_at FROM organizations o JOIN api_keys k ON k.organization_id = o.id "
        "WHERE o.name = 'default' LIMIT 1"
    ).fetchone()
    prefix = keys[0][:10]
    with con:
        con.executemany(
            "INSERT INTO api_keys (id, organization_id, name, api_key_role, api_policy, enabled, allowed_cidrs, "
            "expires_at, key_prefix, key_last4, created_at, updated_at, last_used_at) "
            "VALUES (?, ?, ?, 'serving', NULL, 1, NULL, NULL, ?, ?, ?, ?, NULL)",
            ((key_id(first_index + i), org, f"bench {first_index + i}", prefix, k[-4:], ts, ts) for i, k in enumerate(keys)),
        )
        con.executemany(
            "INSERT INTO key_secrets (key_hash, organization_id, owner_kind, owner_id, key_prefix, key_last4, state, "
            "pending_expires_at, created_at) VALUES (?, ?, 'api_key', ?, ?, ?, 'current', NULL, ?)",
            (
                (hashlib.sha256(k.encode()).hexdigest(), org, key_id(first_index + i), prefix, k[-4:], ts)
                for i, k in enumerate(keys)
            ),
        )
    con.close()


def load_postgres(server, keys, first_index=0):
    """The same rows as load_sqlite, by COPY and INSERT ... SELECT."""
    prefix = keys[0][:10]
    lines = "".join(
        f"{first_index + i}\t{hashlib.sha256(k.encode()).hexdigest()}\t{k[-4:]}\n" for i, k in enumerate(keys)
    )
    script = f"""
BEGIN;
CREATE TEMP TABLE bench_keys (i bigint, key_hash text, last4 text) ON COMMIT DROP;
COPY bench_keys FROM STDIN;
{lines}\\.
CREATE TEMP TABLE bench_org ON COMMIT DROP AS
  SELECT o.id AS org, k.created_at AS ts FROM organizations o JOIN api_keys k ON k.organization_id = o.id
  WHERE o.name = 'default' LIMIT 1;
INSERT INTO api_keys (id, organization_id, name, api_key_role, api_policy, enabled, allowed_cidrs, expires_at,
                      key_prefix, key_last4, created_at, updated_at, last_used_at)
  SELECT 'aky_f' || lpad(to_hex(i), 31, '0'), org, 'bench ' || i, 'serving', NULL, true, NULL, NULL,
         '{prefix}', last4, ts, ts, NULL FROM bench_keys, bench_org;
INSERT INTO key_secrets (key_hash, organization_id, owner_kind, owner_id, key_prefix, key_last4, state,
                         pending_expires_at, created_at)
  SELECT key_hash, org, 'api_key', 'aky_f' || lpad(to_hex(i), 31, '0'), '{prefix}', last4, 'current', NULL, ts
  FROM bench_keys, bench_org;
COMMIT;
VACUUM ANALYZE api_keys;
VACUUM ANALYZE key_secrets;
"""
    psql(server.db_url, "-", stdin=script)


def create_targets(server, count):
    """API keys made through the API: the ids that GET and PATCH address."""

    def one(i):
        status, body = request(server.url, "POST", "/v1/api_keys", server.bootstrap,
                               {"name": f"target {i}", "api_key_role": "serving"})
        if status != 201:
            fail(f"creating a key on {server.name} answered {status}: {body}")
        return body["id"]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(count)))


# The limits of the limited key of the verify_limits group: never refused (a
# billion per minute) and a balance so large that each lease is the largest,
# 1,000 credits (keys::credits::MAX_LEASE): one database write per 1,000 verifies.
LIMITS = {"ratelimits": [{"name": "requests", "limit": 1_000_000_000, "duration": 60_000}],
          "credits": {"remaining": 1_000_000_000_000}}


def create_key(server, name, extra=None):
    """One serving key made through the API; its plaintext."""
    status, body = request(server.url, "POST", "/v1/api_keys", server.bootstrap,
                           {"name": name, "api_key_role": "serving", **(extra or {})})
    if status != 201:
        fail(f"creating key {name!r} on {server.name} answered {status}: {body}")
    return body["key"]


def write_lines(name, lines):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def check(cond, what):
    if not cond:
        fail(f"sanity check failed: {what}")


# ------------------------------------------------------------- load tools


def pg_counts(db):
    """Ends the database's sessions (each flushes its statistics as it exits)
    and reads its counters: transactions and rows touched."""
    psql(PG_ADMIN, f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{db}'")
    time.sleep(0.3)
    row = psql(PG_ADMIN, "SELECT xact_commit + xact_rollback, tup_inserted, tup_updated, tup_deleted "
                         f"FROM pg_stat_database WHERE datname = '{db}'")
    return [int(x) for x in row.split("|")]


def wrk(url, seconds, conns, env):
    out = subprocess.run(
        ["wrk", f"-t{min(WRK_THREADS, conns)}", f"-c{conns}", f"-d{seconds}s", "-s", LUA, url],
        env=dict(os.environ, BENCH_THREADS=str(min(WRK_THREADS, conns)), **env),
        capture_output=True,
        text=True,
    )
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if out.returncode != 0 or not lines:
        fail(f"wrk failed ({out.returncode}): {out.stdout[-2000:]} {out.stderr[-2000:]}")
    r = json.loads(lines[-1])
    r["errors"] = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    r["rate"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


class Wrk:
    """An HTTP workload: one request shape, wrk with request.lua."""

    def __init__(self, label, target, method, path, body=None, items=None, auth=None, conns=CONNS):
        self.label, self.target = label, target  # target: a Keygate or anything with .url
        self.env = {"BENCH_METHOD": method, "BENCH_PATH": path}
        if body is not None:
            self.env["BENCH_BODY"] = body
        if items:
            self.env["BENCH_ITEMS"] = items
        if auth:
            self.env["BENCH_AUTH"] = auth
        self.conns = conns
        self.pg_db = getattr(target, "db", None) if getattr(target, "backend", None) == "postgres" else None

    def run(self, warmup, seconds):
        before = pg_counts(self.pg_db) if self.pg_db else None
        warm = wrk(self.target.url, warmup, self.conns, self.env) if warmup else {"requests": 0}
        r = wrk(self.target.url, seconds, self.conns, self.env)
        if before:
            after = pg_counts(self.pg_db)
            n = max(1, warm["requests"] + r["requests"])
            r["xacts_per_req"], r["ins_per_req"], r["upd_per_req"], _ = [(a - b) / n for a, b in zip(after, before)]
        return r


class Pgbench:
    def __init__(self, label, db, mode):
        self.label, self.db, self.mode = label, db, mode

    def _run(self, seconds):
        out = subprocess.run(
            ["pgbench", self.mode, "-n", f"-c{CONNS}", f"-j{WRK_THREADS}", f"-T{seconds}", f"{PG_BASE}/{self.db}"],
            capture_output=True, text=True,
        )
        tps = [l for l in out.stdout.splitlines() if l.startswith("tps = ")]
        if out.returncode != 0 or not tps:
            fail(f"pgbench failed: {out.stdout[-1500:]} {out.stderr[-1500:]}")
        lat = [l for l in out.stdout.splitlines() if l.startswith("latency average")]
        return {"rate": float(tps[-1].split()[2]),
                "mean_us": float(lat[-1].split()[3]) * 1000 if lat else None, "errors": 0}

    def run(self, warmup, seconds):
        if warmup:
            self._run(warmup)
        return self._run(seconds)


class SqliteLoop:
    def __init__(self, label, path, mode, threads):
        self.label, self.path, self.mode, self.threads = label, path, mode, threads

    def run(self, warmup, seconds):
        out = subprocess.run([SQLITE_LOOP, self.path, self.mode, str(warmup), str(seconds), str(self.threads)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            fail(f"bench_sqlite failed: {out.stderr[-1500:]}")
        fields = dict(kv.split("=") for kv in out.stdout.split())
        return {"rate": float(fields["rate"]), "errors": 0}


def interleave(group, contenders):
    """Rounds A, B, ..., A, B, ...; the median of each contender's rounds."""
    log(f"{group}: {len(contenders)} workloads x {ROUNDS} rounds of {WARMUP}+{SECONDS} s")
    results = {c.label: [] for c in contenders}
    for rnd in range(ROUNDS):
        for c in contenders:
            r = c.run(WARMUP, SECONDS)
            r.update(group=group, label=c.label, round=rnd + 1)
            RAW["rounds"].append(r)
            results[c.label].append(r)
            extra = f", {r['xacts_per_req']:.2f} xacts/req" if "xacts_per_req" in r else ""
            errs = f", {r['errors']} errors" if r.get("errors") else ""
            log(f"  round {rnd + 1} {c.label}: {r['rate']:,.0f}/s{extra}{errs}")
    summary = {}
    for label, rs in results.items():
        s = {"rate": median(r["rate"] for r in rs), "rounds": [round(r["rate"]) for r in rs],
             "errors": sum(r.get("errors", 0) for r in rs), "requests": sum(r.get("requests", 0) for r in rs)}
        for k in ("xacts_per_req", "ins_per_req", "upd_per_req", "p50_us", "p99_us", "p999_us"):
            if any(k in r for r in rs):
                s[k] = median(r.get(k) for r in rs)
        summary[label] = s
    return summary


def oha(url, rate, seconds, method="GET", path="/", body=None, auth=None, urls=None):
    """oha at `rate` requests/s (open loop), or as fast as it can (rate None)."""
    argv = [OHA, "--no-tui", "--output-format", "json", "-z", f"{seconds}s", "-c", str(CONNS), "-m", method]
    if rate:
        argv += ["-q", str(max(1, int(rate))), "--latency-correction"]
    if auth:
        argv += ["-H", f"Authorization: Bearer {auth}"]
    if body is not None:
        argv += ["-d", body, "-T", "application/json"]
    if urls:
        argv += ["--urls-from-file", urls]
    else:
        argv.append(url + path)
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        fail(f"oha failed: {out.stderr[-1500:]}")
    data = json.loads(out.stdout)
    pct = data["latencyPercentiles"]
    codes = data.get("statusCodeDistribution", {})
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    # Requests still in flight when the time is up are "aborted due to deadline".
    failed = {k: v for k, v in data.get("errorDistribution", {}).items() if "deadline" not in k}
    return {"p50_us": pct["p50"] * 1e6, "p99_us": pct["p99"] * 1e6, "p999_us": pct["p99.9"] * 1e6,
            "rate": data["summary"]["requestsPerSec"], "errors": sum(codes.values()) - ok + sum(failed.values()),
            "error_kinds": failed}


# ------------------------------------------------------------------ report


def fmt_rate(v):
    return "—" if v is None else f"{v:,.0f}/s"


def fmt_ms(us):
    return "—" if us is None else f"{us / 1000:.2f} ms"


def fmt_mb(kib):
    return "—" if kib is None else f"{kib * 1024 / 1e6:.1f} MB"


def verdict(value, target, floor=None, below=False):
    if value is None:
        return "—"
    if below:
        return "yes" if value < target else "no"
    if value >= target:
        return "yes"
    if floor is not None and value >= floor:
        return "floor only"
    return "no"


class Anchor:
    """The bare actix-web handler (examples/bench_anchor.rs)."""

    def __init__(self):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = Process("anchor", [ANCHOR], dict(os.environ, KEYGATE_BIND=f"127.0.0.1:{port}"))
        self.start_ms = wait_ready(self.proc, self.url)
        time.sleep(1)
        self.rss_idle = rss_kib(self.proc.proc.pid)["VmRSS"]


BACKENDS = ("sqlite", "postgres")
VERIFY = '{"key": "{item}"}'
PATCH = '{"name": "bench {n}"}'
SECRET = '{"value": "secret {n}", "description": "bench"}'


def measure_startup():
    """Start to ready on fresh and existing databases, graceful stop, idle RSS."""
    startup = {b: {"fresh": [], "existing": [], "stop": [], "rss": []} for b in BACKENDS}
    for b in BACKENDS:
        for i in range(START_SAMPLES):
            s = Keygate(f"{b}_start{i}", b, generate_key(), master_key())
            startup[b]["fresh"].append(s.start())
            time.sleep(1)
            startup[b]["rss"].append(rss_kib(s.pid)["VmRSS"])
            startup[b]["stop"].append(s.stop())
            startup[b]["existing"].append(s.start())
            startup[b]["stop"].append(s.stop())
            s.drop()
        log(f"{b}: start to ready fresh {median(startup[b]['fresh']):.0f} ms, existing "
            f"{median(startup[b]['existing']):.0f} ms, stop {median(startup[b]['stop']):.0f} ms, "
            f"idle RSS {fmt_mb(median(startup[b]['rss']))}")
    return startup


class Data:
    """The servers of the rounds and what they hold. On each backend: "main"
    has the API's targets and N_10K generated keys, "big" N_BIG generated keys
    (the first N_10K the same as main's)."""

    def __init__(self):
        tag = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(8))
        t0 = time.monotonic()
        self.keys = bench_keys(tag, N_BIG)
        log(f"generated {N_BIG:,} keys in {time.monotonic() - t0:.1f} s")
        self.one = write_lines("keys-1.txt", self.keys[:1])
        self.k1k = write_lines("keys-1k.txt", self.keys[:N_1K])
        self.k10k = write_lines("keys-10k.txt", self.keys[:N_10K])
        # Past the first N_10K: none of these was presented before.
        self.distinct = write_lines("keys-distinct.txt", self.keys[N_10K:N_10K + N_MISS_FILE])
        self.main, self.big, self.targets, self.target_file, self.big_start = {}, {}, {}, {}, {}
        # verify_limits: two keys made alike through the API, one with LIMITS.
        self.unlimited, self.limited, self.unlimited_file, self.limited_file = {}, {}, {}, {}
        for b in BACKENDS:
            load = load_sqlite if b == "sqlite" else load_postgres
            m = self.main[b] = Keygate(f"{b}_main", b, generate_key(), master_key())
            m.start()
            self.targets[b] = create_targets(m, N_TARGETS)
            self.target_file[b] = write_lines(f"targets-{b}.txt", self.targets[b])
            self.unlimited[b] = create_key(m, "bench without limits")
            self.limited[b] = create_key(m, "bench with limits", LIMITS)
            self.unlimited_file[b] = write_lines(f"unlimited-{b}.txt", [self.unlimited[b]])
            self.limited_file[b] = write_lines(f"limited-{b}.txt", [self.limited[b]])
            m.stop()
            t0 = time.monotonic()
            load(m, self.keys[:N_10K])
            m.start()
            g = self.big[b] = Keygate(f"{b}_big", b, generate_key(), master_key())
            g.start()
            g.stop()
            load(g, self.keys)
            self.big_start[b] = g.start()
            log(f"{b}: {N_TARGETS} keys through the API, {N_10K:,} + {N_BIG:,} by SQL in "
                f"{time.monotonic() - t0:.1f} s; start to ready with {N_BIG:,} keys {self.big_start[b]:.0f} ms")

    def sanity(self, anchor):
        """The generated keys verify; every measured operation answers as expected."""
        keys = self.keys
        for b in BACKENDS:
            m, g = self.main[b], self.big[b]
            for srv, sample in ((m, keys[0]), (m, keys[N_10K - 1]), (g, keys[0]), (g, keys[N_BIG - 1])):
                status, body = request(srv.url, "POST", "/v1/verify", srv.bootstrap, {"key": sample})
                check(status == 200 and body.get("valid") is True, f"verify on {srv.name}: {status} {body}")
            target = self.targets[b][0]
            status, body = request(m.url, "GET", f"/v1/api_keys/{target}", m.bootstrap)
            check(status == 200, f"GET by id on {m.name}: {status}")
            status, body = request(m.url, "GET", f"/v2/api_keys/{target}", m.bootstrap)
            check(status == 200 and body.get("id") == target, f"Vectara GET on {m.name}: {status}")
            status, body = request(m.url, "GET", "/v1/api_keys?limit=20", m.bootstrap)
            check(status == 200 and len(body.get("data", [])) == 20, f"list on {m.name}: {status}")
            status, body = request(m.url, "PATCH", f"/v1/api_keys/{target}", m.bootstrap, {"name": "sanity"})
            check(status == 200, f"PATCH on {m.name}: {status} {body}")
            status, body = request(m.url, "POST", "/v1/secrets", m.bootstrap, {"value": "v", "description": "sanity"})
            check(status == 201, f"create secret on {m.name}: {status} {body}")
            status, body = request(m.url, "POST", "/v1/verify", m.bootstrap, {"key": self.unlimited[b]})
            check(status == 200 and body.get("code") == "VALID" and body.get("ratelimits") == []
                  and body.get("credits") == [], f"verify without limits on {m.name}: {status} {body}")
            status, body = request(m.url, "POST", "/v1/verify", m.bootstrap, {"key": self.limited[b]})
            limits, credits = body.get("ratelimits") or [{}], body.get("credits") or [{}]
            check(status == 200 and body.get("valid") is True and body.get("code") == "VALID"
                  and limits[0].get("name") == "requests" and limits[0].get("exceeded") is False
                  and credits[0].get("remaining", 0) > 0, f"verify with limits on {m.name}: {status} {body}")
        status, body = request(anchor.url, "POST", "/v1/verify", None, {"key": keys[0]})
        check(status == 200 and body.get("valid") is True, f"anchor answered {status} {body}")


def throughput(anchor, data, pgbench_db, sqlite_anchor):
    """The interleaved groups of rounds at c{CONNS}."""
    main_, big = data.main, data.big
    results = {}
    # 1. Verify of one cached key on both backends, against the bare handler;
    # and a third server without the access log (RUST_LOG=warn), for its cost.
    quiet = Keygate("sqlite_quiet", "sqlite", generate_key(), master_key(), rust_log="warn")
    quiet.start()
    results["verify_cached"] = interleave("verify, one key (cached)", [
        Wrk("anchor", anchor, "POST", "/v1/verify", VERIFY, data.one),
        Wrk("sqlite", main_["sqlite"], "POST", "/v1/verify", VERIFY, data.one, main_["sqlite"].bootstrap),
        Wrk("postgres", main_["postgres"], "POST", "/v1/verify", VERIFY, data.one, main_["postgres"].bootstrap),
        Wrk("sqlite_quiet", quiet, "POST", "/v1/verify", VERIFY, write_lines("keys-quiet.txt", [quiet.bootstrap]),
            quiet.bootstrap),
    ])
    quiet.drop()
    # 1b. Verify of one cached key with a rate limit and credits (LIMITS)
    # against the same verify of a key without limits (issue 19: within 10%).
    pairs = []
    for b in BACKENDS:
        m = main_[b]
        pairs.append(Wrk(f"unlimited_{b}", m, "POST", "/v1/verify", VERIFY, data.unlimited_file[b], m.bootstrap))
        pairs.append(Wrk(f"limited_{b}", m, "POST", "/v1/verify", VERIFY, data.limited_file[b], m.bootstrap))
    results["verify_limits"] = interleave("verify, one key (cached), without and with limits", pairs)
    # 2. Verify over many keys, and among many stored rows.
    for b in BACKENDS:
        m, g = main_[b], big[b]
        results[f"verify_keys_{b}"] = interleave(f"verify over many keys, {b}", [
            Wrk("1k", m, "POST", "/v1/verify", VERIFY, data.k1k, m.bootstrap),
            Wrk("10k", m, "POST", "/v1/verify", VERIFY, data.k10k, m.bootstrap),
            Wrk("1k_among_big", g, "POST", "/v1/verify", VERIFY, data.k1k, g.bootstrap),
            Wrk("distinct", g, "POST", "/v1/verify", VERIFY, data.distinct, g.bootstrap),
        ])
    # 3. Reads: GET by id and list, against pgbench -S and the SQLite read loop.
    reads = []
    for b in BACKENDS:
        m = main_[b]
        reads.append(Wrk(f"get_{b}", m, "GET", "/v1/api_keys/{item}", None, data.target_file[b], m.bootstrap))
        reads.append(Wrk(f"list_{b}", m, "GET", "/v1/api_keys?limit=20", None, None, m.bootstrap))
    reads.append(Pgbench("pgbench_S", pgbench_db, "-S"))
    reads.append(SqliteLoop("sqlite_read", sqlite_anchor, "read", 2))
    results["reads"] = interleave("reads", reads)
    # 4. The dialects' thin adapters: Vectara's GET of an API key (the same
    # domain read) against the native GET of the same keys.
    dialects = []
    for b in BACKENDS:
        m = main_[b]
        dialects.append(Wrk(f"native_{b}", m, "GET", "/v1/api_keys/{item}", None, data.target_file[b], m.bootstrap))
        dialects.append(Wrk(f"vectara_{b}", m, "GET", "/v2/api_keys/{item}", None, data.target_file[b], m.bootstrap))
    results["dialects"] = interleave("dialects", dialects)
    # 5. Mutations with their audit event, against pgbench -N and the SQLite commit loop.
    writes = []
    for b in BACKENDS:
        m = main_[b]
        writes.append(Wrk(f"patch_{b}", m, "PATCH", "/v1/api_keys/{item}", PATCH, data.target_file[b], m.bootstrap))
        writes.append(Wrk(f"secret_{b}", m, "POST", "/v1/secrets", SECRET, None, m.bootstrap))
    writes.append(Pgbench("pgbench_N", pgbench_db, "-N"))
    writes.append(SqliteLoop("sqlite_commit", sqlite_anchor, "commit", 1))
    results["writes"] = interleave("writes", writes)
    return results


def latency(anchor, data):
    """Percentiles at a light load (c{LIGHT}, wrk, closed loop) and at half the
    peak rate (oha -q, open loop, corrected for coordinated omission). The
    peak is oha's own, measured just before: oha takes more CPU per request
    than wrk, so half of wrk's peak can be more than keygate gets beside oha."""
    log(f"latency: c{LIGHT} (wrk) and half the peak rate (oha -q, c{CONNS}), {SECONDS} s each")
    main_, big = data.main, data.big
    light = {}
    runs = [("verify_anchor", Wrk("v", anchor, "POST", "/v1/verify", VERIFY, data.one, conns=LIGHT))]
    for b in BACKENDS:
        m = main_[b]
        runs += [
            (f"verify_{b}", Wrk("v", m, "POST", "/v1/verify", VERIFY, data.one, m.bootstrap, conns=LIGHT)),
            (f"miss_{b}", Wrk("m", big[b], "POST", "/v1/verify", VERIFY, data.distinct, big[b].bootstrap, conns=LIGHT)),
            (f"get_{b}", Wrk("g", m, "GET", "/v1/api_keys/{item}", None, data.target_file[b], m.bootstrap,
                             conns=LIGHT)),
            (f"patch_{b}", Wrk("p", m, "PATCH", "/v1/api_keys/{item}", PATCH, data.target_file[b], m.bootstrap,
                               conns=LIGHT)),
        ]
    for name, w in runs:
        w.pg_db = None
        light[name] = w.run(WARMUP, SECONDS)
        log(f"  c{LIGHT} {name}: p50 {fmt_ms(light[name]['p50_us'])}, p99 {fmt_ms(light[name]['p99_us'])}, "
            f"p99.9 {fmt_ms(light[name]['p999_us'])}")
    half = {}
    body = json.dumps({"key": data.keys[0]})

    def at_half(name, url, method, path, b, auth, urls=None, rate=None):
        if rate is None:
            peak = oha(url, None, WARMUP + SECONDS, method, path, b, auth, urls)["rate"]
            rate = peak / 2
        else:
            peak = None
        if WARMUP:
            oha(url, rate, WARMUP, method, path, b, auth, urls)
        r = half[name] = oha(url, rate, SECONDS, method, path, b, auth, urls)
        r.update(target_rate=rate, oha_peak=peak)
        log(f"  {rate:,.0f}/s {name}: p50 {fmt_ms(r['p50_us'])}, p99 {fmt_ms(r['p99_us'])}, "
            f"p99.9 {fmt_ms(r['p999_us'])}, achieved {r['rate']:,.0f}/s")
        return rate

    for b in BACKENDS:
        m = main_[b]
        rate = at_half(f"verify_{b}", m.url, "POST", "/v1/verify", body, m.bootstrap)
        # The bare handler at keygate's rate: what this machine gives at that load.
        at_half(f"verify_anchor_{b}", anchor.url, "POST", "/v1/verify", body, None, rate=rate)
        urls = write_lines(f"urls-{b}.txt", [f"{m.url}/v1/api_keys/{i}" for i in data.targets[b]])
        at_half(f"get_{b}", m.url, "GET", None, None, m.bootstrap, urls)
    return light, half


def main():
    for tool, path in (("keygate", KEYGATE), ("bench_anchor", ANCHOR), ("bench_sqlite", SQLITE_LOOP)):
        if not os.access(path, os.X_OK):
            fail(f"{tool} is not built at {path} (bench/run builds it)")
    for tool in ("wrk", "pgbench", "psql", OHA):
        if not shutil.which(tool):
            fail(f"{tool} is not installed (bench/run installs it)")
    psql(PG_ADMIN, "SELECT 1")
    os.makedirs(OUT, exist_ok=True)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    commit += " (with local changes)" if dirty else ""
    code = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h", "--", "src", "migrations", "Cargo.toml",
                           "Cargo.lock"], capture_output=True, text=True).stdout.strip()
    commit += f"; keygate's code as of {code}" if code else ""
    log(f"keygate bench{' (smoke)' if SMOKE else ''}: commit {commit}, c{CONNS}, {ROUNDS} rounds of "
        f"{SECONDS} s, work dir {WORK}")
    busy = wait_for_quiet()
    started = time.monotonic()
    load_start = os.getloadavg()

    anchor = Anchor()
    pgbench_db = create_pg_database("pgbench")
    subprocess.run(["pgbench", "-i", "-q", "-s", "1", f"{PG_BASE}/{pgbench_db}"], capture_output=True, check=True)
    sqlite_anchor = os.path.join(WORK, "anchor.db")
    subprocess.run([SQLITE_LOOP, sqlite_anchor, "init"], check=True)

    startup = measure_startup()
    data = Data()
    data.sanity(anchor)
    rss_before = {b: rss_kib(data.main[b].pid)["VmRSS"] for b in BACKENDS}
    results = throughput(anchor, data, pgbench_db, sqlite_anchor)
    light, half = latency(anchor, data)

    # Memory after the load, then a graceful stop after it.
    time.sleep(1)
    rss_after = {b: rss_kib(data.main[b].pid) for b in BACKENDS}
    rss_after["anchor"] = rss_kib(anchor.proc.proc.pid)
    stop_after = {b: data.main[b].stop() for b in BACKENDS}
    stop_after["anchor"] = anchor.proc.stop()
    m = dict(commit=commit, busy=busy, load=[load_start, os.getloadavg()], elapsed=time.monotonic() - started,
             startup=startup, big_start=data.big_start, anchor_start=anchor.start_ms, anchor_rss=anchor.rss_idle,
             rss_before=rss_before, rss_after=rss_after, stop_after=stop_after,
             results=results, light=light, half=half)
    RAW.update(m)
    failed = report(m)
    if failed:
        sys.exit(1)


def report(m):
    """Prints the table and writes it, with the raw figures, to OUT."""
    results, light, half, startup = m["results"], m["light"], m["half"], m["startup"]
    vc, rd, wr = results["verify_cached"], results["reads"], results["writes"]
    rows = []

    def row(what, keygate, anchor, ratio, target, met):
        rows.append((what, keygate, anchor, "—" if ratio is None else f"{ratio:.2f}", target, met))
        if target != "—":
            RAW["targets"].append(dict(what=what, keygate=keygate, anchor=anchor, ratio=ratio, target=target,
                                       met=met))

    a = vc["anchor"]["rate"]
    for b in BACKENDS:
        r = vc[b]["rate"] / a
        row(f"verify, one cached key, {b} vs the bare actix handler", fmt_rate(vc[b]["rate"]), fmt_rate(a), r,
            "≥ 0.90 (floor 0.75)", verdict(r, 0.9, 0.75))
    q = vc["sqlite_quiet"]["rate"]
    row("verify, one cached key, sqlite with RUST_LOG=warn (no access log) vs the bare handler", fmt_rate(q),
        fmt_rate(a), q / a, "≥ 0.90 (floor 0.75)", verdict(q / a, 0.9, 0.75))
    vl = results["verify_limits"]
    for b in BACKENDS:
        lim, unl = vl[f"limited_{b}"]["rate"], vl[f"unlimited_{b}"]["rate"]
        row(f"verify, one cached key with a rate limit and credits vs the same without limits, {b}",
            fmt_rate(lim), fmt_rate(unl), lim / unl, "verify with limits ≥ 0.90 × without", verdict(lim / unl, 0.9))
    for b in BACKENDS:
        h, ha = half[f"verify_{b}"], half[f"verify_anchor_{b}"]
        row(f"verify p99 at half the peak rate (oha, {h['target_rate']:,.0f}/s), {b}; the anchor at the same rate",
            fmt_ms(h["p99_us"]), fmt_ms(ha["p99_us"]), None, "< 1 ms", verdict(h["p99_us"], 1000, below=True))
    for b in BACKENDS:
        v = results[f"verify_keys_{b}"]
        base = v["1k"]["rate"]
        for label, what in (
            ("10k", f"verify over {N_10K:,} distinct keys vs over {N_1K:,}, {b}"),
            ("distinct", f"verify over {N_BIG:,} distinct keys (each request a new key: a cache miss) "
                         f"vs over {N_1K:,}, {b}"),
            ("1k_among_big", f"verify over {N_1K:,} keys among {N_BIG:,} stored vs among "
                             f"{N_10K + N_TARGETS + 3:,}, {b}"),
        ):
            r = v[label]["rate"] / base
            row(what, fmt_rate(v[label]["rate"]), fmt_rate(base), r, "≥ 0.90", verdict(r, 0.9))
    pg_s, sq_r = rd["pgbench_S"]["rate"], rd["sqlite_read"]["rate"]
    r = rd["get_postgres"]["rate"] / pg_s
    row("GET /v1/api_keys/{id}, postgres vs pgbench -S", fmt_rate(rd["get_postgres"]["rate"]), fmt_rate(pg_s), r,
        "≥ 0.40", verdict(r, 0.4))
    row("GET /v1/api_keys/{id}, sqlite vs the SQLite read loop (2 threads)", fmt_rate(rd["get_sqlite"]["rate"]),
        fmt_rate(sq_r), rd["get_sqlite"]["rate"] / sq_r, "—", "—")
    row("GET /v1/api_keys?limit=20, postgres vs pgbench -S", fmt_rate(rd["list_postgres"]["rate"]), fmt_rate(pg_s),
        rd["list_postgres"]["rate"] / pg_s, "—", "—")
    row("GET /v1/api_keys?limit=20, sqlite vs the SQLite read loop", fmt_rate(rd["list_sqlite"]["rate"]),
        fmt_rate(sq_r), rd["list_sqlite"]["rate"] / sq_r, "—", "—")
    pg_n, sq_c = wr["pgbench_N"]["rate"], wr["sqlite_commit"]["rate"]
    for op, what in (("patch", "PATCH /v1/api_keys/{id} (a different key each time)"), ("secret", "POST /v1/secrets")):
        r = wr[f"{op}_postgres"]["rate"] / pg_n
        row(f"{what} + audit, postgres vs pgbench -N", fmt_rate(wr[f"{op}_postgres"]["rate"]), fmt_rate(pg_n), r,
            "≥ 0.70", verdict(r, 0.7))
        row(f"{what} + audit, sqlite vs the SQLite commit loop", fmt_rate(wr[f"{op}_sqlite"]["rate"]), fmt_rate(sq_c),
            wr[f"{op}_sqlite"]["rate"] / sq_c, "—", "—")
    dl = results["dialects"]
    for b in BACKENDS:
        r = dl[f"vectara_{b}"]["rate"] / dl[f"native_{b}"]["rate"]
        row(f"a dialect: Vectara GET /v2/api_keys/{{id}} vs the native GET /v1/api_keys/{{id}}, {b}",
            fmt_rate(dl[f"vectara_{b}"]["rate"]), fmt_rate(dl[f"native_{b}"]["rate"]), r, "≈ 1 (a thin adapter)",
            verdict(r, 0.9))
    for b in BACKENDS:
        idle = median(startup[b]["rss"])
        row(f"idle RSS after start, {b}", fmt_mb(idle), fmt_mb(m["anchor_rss"]), None, "< 30 MB",
            verdict(idle * 1024 / 1e6, 30, below=True))
    ra = m["rss_after"]
    for b in BACKENDS:
        row(f"RSS idle before / after the load (peak), {b}",
            f"{fmt_mb(m['rss_before'][b])} / {fmt_mb(ra[b]['VmRSS'])} ({fmt_mb(ra[b]['VmHWM'])})",
            f"{fmt_mb(m['anchor_rss'])} / {fmt_mb(ra['anchor']['VmRSS'])} ({fmt_mb(ra['anchor']['VmHWM'])})",
            None, "—", "—")
    for b in BACKENDS:
        for kind in ("fresh", "existing"):
            v = median(startup[b][kind])
            row(f"start to ready, {kind} {b} database", f"{v:.0f} ms", f"{m['anchor_start']:.0f} ms", None,
                "< 300 ms", verdict(v, 300, below=True))
        v = m["big_start"][b]
        row(f"start to ready, {b} with {N_BIG:,} keys", f"{v:.0f} ms", "—", None, "< 300 ms",
            verdict(v, 300, below=True))
    for b in BACKENDS:
        row(f"graceful stop (SIGTERM to exit), {b}: idle / after the load",
            f"{median(startup[b]['stop']):.0f} / {m['stop_after'][b]:.0f} ms", f"{m['stop_after']['anchor']:.0f} ms",
            None, "bounded, configurable drain",
            "yes (KEYGATE_SHUTDOWN_TIMEOUT_SECONDS, 20 s by default)")
    table = ["| what | keygate | anchor | ratio | target | met? |", "|---|---:|---:|---:|---|---|"]
    table += [f"| {' | '.join(r)} |" for r in rows]

    names = {"verify_anchor": "verify, bare handler"}
    for b in BACKENDS:
        names.update({f"verify_anchor_{b}": f"verify, bare handler at the {b} rate", f"verify_{b}": f"verify, {b}",
                      f"miss_{b}": f"verify, cache miss, {b}", f"get_{b}": f"GET by id, {b}",
                      f"patch_{b}": f"PATCH, {b}"})
    lat = ["| workload | c4 p50 | c4 p99 | c4 p99.9 | oha peak | half of it | achieved | p50 | p99 | p99.9 |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, label in names.items():
        lr, hr = light.get(name), half.get(name)
        cells = [fmt_ms(lr["p50_us"]), fmt_ms(lr["p99_us"]), fmt_ms(lr["p999_us"])] if lr else ["—"] * 3
        cells += ([fmt_rate(hr["oha_peak"]), fmt_rate(hr["target_rate"]), fmt_rate(hr["rate"]), fmt_ms(hr["p50_us"]),
                   fmt_ms(hr["p99_us"]), fmt_ms(hr["p999_us"])] if hr else ["—"] * 6)
        lat.append(f"| {label} | {' | '.join(cells)} |")

    work = ["| workload (postgres) | rate | transactions / request | rows inserted / request | rows updated / request |",
            "|---|---:|---:|---:|---:|"]
    for group, label, what in (
        ("verify_cached", "postgres", "verify, one cached key"),
        ("verify_limits", "unlimited_postgres", "verify, one cached key made through the API, without limits"),
        ("verify_limits", "limited_postgres", "verify, the same with a rate limit and credits"),
        ("verify_keys_postgres", "1k", f"verify over {N_1K:,} keys"),
        ("verify_keys_postgres", "10k", f"verify over {N_10K:,} keys"),
        ("verify_keys_postgres", "1k_among_big", f"verify over {N_1K:,} keys among {N_BIG:,}"),
        ("verify_keys_postgres", "distinct", "verify, each key new (cache miss)"),
        ("reads", "get_postgres", "GET by id"),
        ("reads", "list_postgres", "list"),
        ("writes", "patch_postgres", "PATCH"),
        ("writes", "secret_postgres", "POST /v1/secrets"),
    ):
        s = results[group][label]
        work.append(f"| {what} | {fmt_rate(s['rate'])} | {s.get('xacts_per_req', 0):.2f} | "
                    f"{s.get('ins_per_req', 0):.2f} | {s.get('upd_per_req', 0):.2f} |")

    rounds = ["| group | workload | rounds | median | errors |", "|---|---|---|---:|---:|"]
    for group, summary in results.items():
        for label, s in summary.items():
            rounds.append(f"| {group} | {label} | {', '.join(f'{x:,}' for x in s['rounds'])} | "
                          f"{fmt_rate(s['rate'])} | {s['errors']} |")

    failed = [f"{g}/{l}" for g, s in results.items() for l, v in s.items()
              if v["errors"] > 0.001 * max(1, v["requests"])]
    failed += [f"half-peak {n}" for n, h in half.items() if h["errors"]]
    failed += [f"c{LIGHT} {n}" for n, h in light.items() if h["errors"]]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.machine())
    date = datetime.date.today().isoformat()
    smoke = " (SMOKE: short rounds, small data; the numbers mean nothing)" if SMOKE else ""
    head = [
        f"keygate bench{smoke}, {date}, commit {m['commit']}",
        "",
        f"Machine: {os.cpu_count()} CPUs ({cpu}) shared by the load generators and the servers; PostgreSQL "
        f"{psql(PG_ADMIN, 'SHOW server_version')}. Throughput: wrk -t{WRK_THREADS} -c{CONNS}, {ROUNDS} interleaved "
        f"rounds of {WARMUP} s warm-up + {SECONDS} s, medians; pgbench -c{CONNS} -j{WRK_THREADS} (TCP, scale 1). "
        f"keygate with its defaults (pool 8, auth cache TTL 1 s, RUST_LOG={RUST_LOG}: an access log line per "
        f"request, to a file). Other work on the CPUs at the start: {m['busy']:.0%}; load average before / after: "
        f"{m['load'][0][0]:.1f} / {m['load'][1][0]:.1f}. Took {m['elapsed'] / 60:.1f} min. In the memory, start "
        "and stop rows the anchor is the bare actix handler.",
        "",
    ]
    if failed:
        head += [f"**Requests failed in: {', '.join(failed)}** (see the rounds below).", ""]
    text = "\n".join(
        head + table
        + ["", f"Latency: wrk at c{LIGHT} (closed loop); oha at c{CONNS} as fast as it can (its peak), then at "
               "half that rate (open loop, latency corrected for coordinated omission); the bare handler at "
               "keygate's rate:", ""] + lat
        + ["", "Database work per request on PostgreSQL (pg_stat_database deltas over warm-up and round, medians "
               "of the rounds):", ""] + work
        + ["", "Every round (requests or transactions per second):", ""] + rounds) + "\n"
    suffix = "-smoke" if SMOKE else ""
    path = os.path.join(OUT, f"results-{date}{suffix}.md")
    with open(path, "w") as f:
        f.write(text)
    with open(os.path.join(OUT, f"results-{date}{suffix}.json"), "w") as f:
        json.dump(RAW, f, indent=1, default=str)
    print()
    print(text)
    log(f"written to {path}")
    return failed


def cleanup():
    for p in list(PROCS):
        try:
            p.proc.terminate()
        except OSError:
            pass
    for p in list(PROCS):
        try:
            p.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.proc.kill()
            p.proc.wait()
    PROCS.clear()
    for name in list(DATABASES):
        drop_pg_database(name)
    shutil.rmtree(WORK, ignore_errors=True)


def on_signal(signum, _frame):
    raise SystemExit(f"bench: stopped by signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        main()
    finally:
        cleanup()
