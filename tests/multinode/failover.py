"""failover: the standby is promoted during a write load, and every node
finds the new writer through its multi-host DATABASE_URL without a restart.

KEYGATE_MULTINODE_FAILOVER_WRITERS (default 12, spread over the nodes)
writers each send one write at a time, in turn a PUT of a new secret (an id
of its own, a random value) and a POST of a new API key, and record every
answer. After KEYGATE_MULTINODE_FAILOVER_BEFORE_MS (3000) of load the
primary is stopped (`pg_ctl -m immediate stop`: a crash), after
KEYGATE_MULTINODE_FAILOVER_GAP_MS (1000) more the standby is promoted
(`pg_ctl promote`), and the load goes on for the recovery bound
(KEYGATE_MULTINODE_FAILOVER_BOUND_MS, 10000) plus
KEYGATE_MULTINODE_FAILOVER_AFTER_MS (3000). A writer that was refused tries
again after 100 ms.

Replication is synchronous (see cluster.py), so a write keygate
acknowledged is on the standby; a write that got no 2xx may or may not have
committed and is not judged.

Checks:
- answers: only 2xx, or 503 with Retry-After, during the whole load (no
  500, no other status, no dropped connection, no request hanging 30 s);
- recovery: on every node, writes succeed again within the bound after the
  promotion and keep succeeding to the end of the load, with no restart;
- every acknowledged write is on the new primary and reads back exactly: a
  secret through GET /v1/secrets/{id} with its value, an API key as its
  row in api_keys and its secret verifying VALID;
- the load was real: acknowledged writes before the stop.
"""

import asyncio
import random
import string
import time

from harness import SetupError, env_int


def value():
    return "".join(random.choice(string.ascii_letters + string.digits + " -_.") for _ in
                   range(random.randint(8, 120)))


class Attempt:
    __slots__ = ("node", "op", "ident", "value", "start", "end", "status", "retry_after",
                 "error", "key")

    def __init__(self, node, op, ident, val, start):
        self.node, self.op, self.ident, self.value, self.start = node, op, ident, val, start
        self.end = self.status = self.retry_after = self.error = self.key = None

    @property
    def ok(self):
        return self.status is not None and 200 <= self.status < 300


async def writer(ctx, w, stop, attempts, t0):
    node = w % 3
    client = ctx.clients[node]
    n = 0
    while not stop.is_set():
        n += 1
        rid = f"mnfo-{w}-{n}"
        if n % 2:
            a = Attempt(node, "secret", rid, value(), time.monotonic() - t0)
            coro = client.put(f"/v1/secrets/{rid}", {"value": a.value}, key=ctx.verifier,
                              headers={"X-Request-Id": rid}, timeout=30)
        else:
            a = Attempt(node, "api_key", None, f"mn failover {rid}", time.monotonic() - t0)
            coro = client.post("/v1/api_keys", {"name": a.value, "api_key_role": "serving"},
                               key=ctx.verifier, headers={"X-Request-Id": rid}, timeout=30)
        attempts.append(a)
        try:
            resp = await coro
            a.status = resp.status
            a.retry_after = resp.header("retry-after")
            if a.op == "api_key" and resp.status == 201:
                body = resp.json()
                a.ident, a.key = body["id"], body["key"]
        except Exception as err:  # noqa: BLE001 - recorded and judged
            a.error = type(err).__name__
        a.end = time.monotonic() - t0
        if not a.ok:
            await asyncio.sleep(0.1)


async def main(ctx, report):
    writers = env_int("KEYGATE_MULTINODE_FAILOVER_WRITERS", 12)
    before = env_int("KEYGATE_MULTINODE_FAILOVER_BEFORE_MS", 3000) / 1000
    gap = env_int("KEYGATE_MULTINODE_FAILOVER_GAP_MS", 1000) / 1000
    bound = env_int("KEYGATE_MULTINODE_FAILOVER_BOUND_MS", 10000) / 1000
    after = env_int("KEYGATE_MULTINODE_FAILOVER_AFTER_MS", 3000) / 1000
    pair = ctx.pair
    report.note(f"replication before the switch: {pair.replication()}")
    # The first secret of a database records the master key's id; keep that
    # first write (and its known race) out of the load.
    r = await ctx.clients[0].put("/v1/secrets/mnfo-first", {"value": "first"}, key=ctx.verifier)
    if r.status not in (200, 201):
        raise SetupError(f"first secret: {r.status} {r.body[:200]!r}")

    attempts = []
    stop = asyncio.Event()
    t0 = time.monotonic()
    tasks = [asyncio.create_task(writer(ctx, w, stop, attempts, t0)) for w in range(writers)]
    try:
        await asyncio.sleep(before)
        t_stop = time.monotonic() - t0
        await asyncio.to_thread(pair.stop_primary, "immediate")
        await asyncio.sleep(gap)
        t_promote_start = time.monotonic() - t0
        await asyncio.to_thread(pair.promote)
        t_promoted = time.monotonic() - t0
        report.note(f"primary stopped at {t_stop:.2f} s, promotion {t_promote_start:.2f} s to "
                    f"{t_promoted:.2f} s after the load started")
        await asyncio.sleep(bound + after)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    t_end = time.monotonic() - t0

    # 1. answers
    bad = [a for a in attempts if not (a.ok or (a.status == 503 and a.retry_after))]
    report.check(not bad,
                 f"answers: {len(attempts)} writes over {t_end:.0f} s from {writers} writers: "
                 f"{', '.join(f'{n}×{s}' for s, n in sorted(_counts(attempts).items()))}, "
                 f"slowest {max((a.end - a.start for a in attempts if a.end), default=0):.2f} s; "
                 f"only 2xx or 503 with Retry-After allowed",
                 "; ".join(f"node {ctx.names[a.node]} {a.op} at {a.start:.1f} s: "
                           f"{a.status or a.error}{' without Retry-After' if a.status == 503 else ''}"
                           for a in bad[:4]))

    # 2. recovery per node
    lines, all_ok = [], True
    for node in range(3):
        mine = [a for a in attempts if a.node == node and a.end is not None]
        failed = [a for a in mine if not a.ok]
        last_fail = max((a.end for a in failed), default=None)
        ok_after = [a for a in mine if a.ok and a.start > (last_fail or t_promoted)]
        recovered = (last_fail - t_promoted) if last_fail is not None else 0.0
        good = bool(ok_after) and recovered <= bound
        all_ok &= good
        lines.append(f"{ctx.names[node]} {max(recovered, 0):.2f} s ({len(failed)} refused, "
                     f"{len(ok_after)} acknowledged after)")
    report.check(all_ok, f"recovery: writes succeed again after the promotion, without a restart, "
                         f"on every node within {bound:.0f} s: {'; '.join(lines)}")

    # 3. acknowledged writes on the new primary
    acked = [a for a in attempts if a.ok]
    secrets = [a for a in acked if a.op == "secret"]
    keys = [a for a in acked if a.op == "api_key"]
    sem = asyncio.Semaphore(32)
    wrong = []

    async def read_secret(i, a):
        async with sem:
            try:
                r = await ctx.clients[i % 3].get(f"/v1/secrets/{a.ident}", key=ctx.verifier)
            except Exception as err:  # noqa: BLE001
                wrong.append(f"secret {a.ident}: {type(err).__name__}")
                return
            if r.status != 200 or r.json().get("value") != a.value:
                wrong.append(f"secret {a.ident}: {r.status}"
                             f"{' other value' if r.status == 200 else ''}")

    async def verify_key(i, a):
        async with sem:
            try:
                r = await ctx.clients[i % 3].post("/v1/verify", {"key": a.key}, key=ctx.verifier)
            except Exception as err:  # noqa: BLE001
                wrong.append(f"api key {a.ident}: {type(err).__name__}")
                return
            if r.status != 200 or not r.json().get("valid"):
                wrong.append(f"api key {a.ident}: verify {r.status} {r.body[:80]!r}")

    await asyncio.gather(*(read_secret(i, a) for i, a in enumerate(secrets)),
                         *(verify_key(i, a) for i, a in enumerate(keys)))
    rows = {}
    ids = [a.ident for a in keys]
    for start in range(0, len(ids), 500):
        chunk = ", ".join(f"'{i}'" for i in ids[start:start + 500])
        if chunk:
            for ident, name in pair.query(f"SELECT id, name FROM api_keys WHERE id IN ({chunk})"):
                rows[ident] = name
    missing_rows = [a for a in keys if rows.get(a.ident) != a.value]
    wrong += [f"api key {a.ident}: row {'missing' if a.ident not in rows else 'other name'}"
              for a in missing_rows]
    before_stop = sum(1 for a in acked if a.end <= t_stop)
    report.check(not wrong,
                 f"acknowledged writes: {len(secrets)} secrets and {len(keys)} API keys "
                 f"acknowledged ({before_stop} before the stop), on the new primary "
                 f"(127.0.0.1:{pair.writer.port}): {len(wrong)} missing or different",
                 "; ".join(wrong[:4]))
    report.check(before_stop >= 10,
                 f"load: {before_stop} writes acknowledged before the stop, "
                 f"{sum(1 for a in attempts if not a.ok and a.start >= t_stop)} refused or cut "
                 f"off after it (at least 10 acknowledged before wanted)")


def _counts(attempts):
    out = {}
    for a in attempts:
        label = str(a.status) if a.status is not None else (a.error or "no answer")
        out[label] = out.get(label, 0) + 1
    return out

