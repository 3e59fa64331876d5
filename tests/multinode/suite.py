"""Runs the multi-node suite: one PostgreSQL primary + hot standby of its
own, three keygate nodes on libpq's multi-host URL, then the parts in
order (`run` is the usual entry point):

    python3 suite.py [PART ...]      # default: every part

Exit status 0 when every check passed, 1 when one failed, 2 when the
cluster or the nodes could not be set up.

The reliability suite's harness (tests/reliability/harness.py: HTTP
client, keygate process, report) is imported as it is. It is configured by
its own variables, which this file sets from the multinode ones before
importing it: KEYGATE_RELIABILITY_OUT <- KEYGATE_MULTINODE_OUT,
KEYGATE_RELIABILITY_STATE <- KEYGATE_MULTINODE_STATE,
KEYGATE_RELIABILITY_SERVER_ENV <- KEYGATE_MULTINODE_SERVER_ENV,
KEYGATE_RELIABILITY_RUST_LOG <- KEYGATE_MULTINODE_RUST_LOG.
"""

import asyncio
import importlib
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.environ.get("KEYGATE_MULTINODE_OUT") or os.path.join(ROOT, "target", "multinode")
os.environ["KEYGATE_RELIABILITY_OUT"] = OUT
os.environ["KEYGATE_RELIABILITY_STATE"] = os.environ.get("KEYGATE_MULTINODE_STATE", "")
os.environ["KEYGATE_RELIABILITY_SERVER_ENV"] = os.environ.get("KEYGATE_MULTINODE_SERVER_ENV", "")
os.environ["KEYGATE_RELIABILITY_RUST_LOG"] = os.environ.get("KEYGATE_MULTINODE_RUST_LOG", "warn")
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.join(ROOT, "tests", "reliability"))

from harness import (Client, Report, Server, SetupError, env_int, make_key,  # noqa: E402
                     master_key)
import cluster  # noqa: E402


class NodeClient(Client):
    """The harness client, plus one repeat of a request whose connection
    was dead before any answer: a reused keep-alive connection the node had
    already closed, or a new one it answered 408 because the request came
    more than 5 s after the connection (actix's client_request_timeout).
    Both happen when the suite's single Python process lags behind on this
    2-core machine; the node never saw the request, so a repeat is safe.
    Repeats are counted in `repeated`, and each part prints them."""

    IDLE_SECONDS = 1.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.repeated = 0

    async def request(self, method, path, **kw):
        try:
            resp = await super().request(method, path, **kw)
        except (ConnectionResetError, BrokenPipeError):
            resp = None
        if resp is not None and resp.status != 408:
            return resp
        self.repeated += 1
        while self.idle:  # the others may be as stale
            self.idle.pop()[1].close()
        return await super().request(method, path, **kw)

# part name -> (module, function). failover breaks the primary: always last.
PARTS = {
    "revocation": ("revocation", "main"),
    "listener": ("revocation", "listener"),
    "rotations": ("rotations", "main"),
    "metrics": ("metrics", "main"),
    "logs": ("logs", "main"),
    "failover": ("failover", "main"),
}
DEFAULT_PARTS = "revocation listener rotations metrics logs failover"
NAMES = ["A", "B", "C"]


class Context:
    """What every part gets: the PostgreSQL pair, the three nodes, a client
    for each and the bootstrap key (a `personal` key of `default`)."""

    def __init__(self):
        self.ttl_ms = env_int("KEYGATE_MULTINODE_TTL_MS", 60000)
        self.pool = env_int("KEYGATE_MULTINODE_POOL_SIZE", 16)
        self.pair = cluster.PgPair()
        self.names = NAMES
        self.servers = []
        self.clients = []
        self.verifier = make_key("ak")
        self.master = master_key()

    def node_env(self):
        return {
            "KEYGATE_AUTH_CACHE_TTL_MS": str(self.ttl_ms),
            # The poll interval the killed phase's bound assumes.
            "KEYGATE_INVALIDATION_POLL_MS": str(env_int("KEYGATE_MULTINODE_POLL_INTERVAL_MS", 1000)),
            "KEYGATE_POOL_SIZE": str(self.pool),
            "KEYGATE_MASTER_KEY": self.master,
            "KEYGATE_BOOTSTRAP_KEY": self.verifier,
        }

    def start(self):
        t = time.monotonic()
        self.pair.start()
        url = self.pair.keygate_url()
        print(f"   PostgreSQL primary 127.0.0.1:{self.pair.primary.port}, hot standby "
              f"127.0.0.1:{self.pair.standby.port} ({self.pair.replication()} replication) "
              f"in {self.pair.root}; {time.monotonic() - t:.1f} s", flush=True)
        self.servers = [Server(f"node-{n.lower()}", url, env=self.node_env()) for n in NAMES]
        for s in self.servers:
            s.bootstrap_key = self.verifier
        # The first node migrates and bootstraps alone; then the others.
        self.servers[0].start(ready_timeout=60)
        for s in self.servers[1:]:
            s.start(wait=False)
        for s in self.servers[1:]:
            s.wait_ready(60)
        self.clients = [NodeClient(s.port, max_conns=env_int("KEYGATE_MULTINODE_MAX_CONNS", 400),
                                   timeout=30) for s in self.servers]
        print(f"   nodes A, B, C on ports {', '.join(str(s.port) for s in self.servers)}, "
              f"DATABASE_URL {url}, KEYGATE_AUTH_CACHE_TTL_MS={self.ttl_ms}, "
              f"KEYGATE_POOL_SIZE={self.pool}", flush=True)

    async def restart_nodes(self):
        """Stops and starts the three nodes on their ports (new connections
        pick up a changed database setting)."""
        for c in self.clients:
            await c.close()
        for s in self.servers:
            await asyncio.to_thread(s.stop)
        for s in self.servers:
            s.start(wait=False)
        for s in self.servers:
            await asyncio.to_thread(s.wait_ready, 60)

    def close(self):
        for s in self.servers:
            try:
                s.stop()
            except Exception:  # noqa: BLE001 - cleanup goes on
                pass
        self.pair.close()


async def interruptible(coro):
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, task.cancel)
    return await coro


async def run_parts(ctx, parts):
    failed = False
    for part in parts:
        module, func = PARTS[part]
        report = Report("multinode", part)
        print(f"\n== {part}", flush=True)
        t = time.monotonic()
        before = [c.repeated for c in ctx.clients]
        try:
            await getattr(importlib.import_module(module), func)(ctx, report)
        except SetupError as err:
            report.check(False, "setup", str(err))
        except asyncio.CancelledError:
            raise
        except Exception:  # a crash of a part is a failure, with its trace
            traceback.print_exc()
            report.check(False, "the part crashed", "see the trace above")
        repeated = sum(c.repeated for c in ctx.clients) - sum(before)
        print(f"   ({part}: {time.monotonic() - t:.0f} s"
              + (f"; {repeated} requests repeated on a fresh connection" if repeated else "")
              + ")", flush=True)
        if report.summary():
            failed = True
    return 1 if failed else 0


def main():
    parts = sys.argv[1:] or os.environ.get("KEYGATE_MULTINODE_PARTS", DEFAULT_PARTS).split()
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        print(f"unknown part(s) {unknown}; parts: {' '.join(PARTS)}", file=sys.stderr)
        return 2
    if "failover" in parts:
        parts = [p for p in parts if p != "failover"] + ["failover"]
    os.makedirs(OUT, exist_ok=True)
    ctx = Context()
    setup = Report("multinode", "setup")

    async def go():
        try:
            print("== setup", flush=True)
            try:
                await asyncio.to_thread(ctx.start)
            except SetupError as err:
                setup.check(False, "cluster and nodes", str(err))
                setup.summary()
                return 2
            return await run_parts(ctx, parts)
        finally:
            for c in ctx.clients:
                await c.close()
            await asyncio.to_thread(ctx.close)

    try:
        return asyncio.run(interruptible(go()))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("multinode: interrupted", file=sys.stderr)
        ctx.close()
        return 130


if __name__ == "__main__":
    sys.exit(main())
