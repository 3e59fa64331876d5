"""revocation and listener: a change made through one node is refused by
the other two within a bound, with the auth cache TTL at 60 s, so that
only cross-node invalidation can make it.

Part `revocation`:
- control: three keys warmed on every node, then disabled *behind
  keygate's back* (a direct UPDATE: no invalidation row) still verify on
  every node for KEYGATE_MULTINODE_CONTROL_MS (default 2000): the cache is
  in effect with the long TTL, so a quick refusal below comes from
  invalidation and not from a short TTL or no cache;
- notify: KEYGATE_MULTINODE_REVOCATIONS (default 1000) keys, each created,
  then warmed (cached) on the two other nodes, then disabled or deleted
  through node A (A = key number mod 3), then polled on the other two
  (POST /v1/verify, or GET /v1/me with the key itself) until both refuse.
  The delay runs from A's 2xx answer to the later of the two refusals.
  p50/p99/max printed, p99 <= KEYGATE_MULTINODE_REVOKE_BOUND_MS (1000);
- kinds: one of each other change that affects authentication or
  verification, made through one node and refused by the other two within
  the same bound: API key rotate + revoke_pending (the pending key), rotate
  with zero grace, expires_at in the past, allowed_cidrs, api_policy;
  cluster key rotate + revoke_pending, a service disabled by PATCH (its
  key), a cluster disconnected (its key).

Part `listener`:
- the listener connections are there: at least one per node in
  pg_stat_activity (application_name `keygate-listener`, or an idle
  connection whose last statement is `LISTEN ...`);
- killed: while a thread terminates those connections every
  KEYGATE_MULTINODE_KILL_EVERY_MS (50), KEYGATE_MULTINODE_KILLED_REVOCATIONS
  (100) revocations as above; p99 <= poll interval + one TTL
  (KEYGATE_MULTINODE_POLL_INTERVAL_MS 1000 + KEYGATE_MULTINODE_TTL_MS 60000),
  and at least 3 listener connections were really killed (else the phase
  did not test a killed listener);
- reconnect: once the killing stops, a listener is back for every node within
  KEYGATE_MULTINODE_RECONNECT_BOUND_MS (10000);
- after: KEYGATE_MULTINODE_AFTER_REVOCATIONS (50) revocations with the
  listener back: p99 <= the notify bound again.

A phase stops starting new keys as soon as its p99 can no longer meet the
bound (more keys beyond the bound than the percentile allows), so a
keygate without invalidation fails in one TTL instead of a thousand.
"""

import asyncio
import datetime
import time

from harness import SetupError, env_int, expect, percentile
import cluster

VERIFY, ME = "verify", "me"


class Unexpected(Exception):
    """A look-up answered with a status that is neither yes nor no."""


class Unanswered(Exception):
    """A look-up that got no answer at all."""


async def send(coro):
    try:
        resp = await coro
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as err:
        raise Unanswered(type(err).__name__) from None
    if resp.status == 408:
        raise Unanswered("408")
    return resp


class Probe:
    """How to ask a node whether a key still works: `verify` (POST
    /v1/verify with the verifier key, refused when `valid` is false) or
    `me` (GET /v1/me with the key itself: 200 works, 401/403 refused; a
    404 means authentication accepted a deleted key, so it still works)."""

    def __init__(self, key, mode=VERIFY, client_ip=None):
        self.key, self.mode, self.client_ip = key, mode, client_ip

    async def works(self, client, verifier):
        if self.mode == VERIFY:
            body = {"key": self.key}
            if self.client_ip:
                body["client_ip"] = self.client_ip
            resp = await send(client.post("/v1/verify", body, key=verifier, timeout=15))
            if resp.status != 200:
                raise Unexpected(f"verify {resp.status}")
            return bool(resp.json()["valid"])
        resp = await send(client.get("/v1/me", key=self.key, timeout=15))
        # 404: authentication accepted the key (from a stale cache entry)
        # and the handler then found its row gone: still accepted.
        if resp.status in (200, 404):
            return True
        if resp.status in (401, 403):
            return False
        raise Unexpected(f"me {resp.status}")


class Item:
    """One revocation: `probe` must work on `watchers` before and be refused
    by all of them after `change` ran through `actor`."""

    def __init__(self, name, actor, watchers, probe, change):
        self.name, self.actor, self.watchers = name, actor, watchers
        self.probe, self.change = probe, change
        self.delay = None        # seconds, or None: not refused by give-up
        self.error = None
        self.ran = False


class Phase:
    def __init__(self, label, bound, give_up, batch, p_min):
        self.label, self.bound, self.give_up = label, bound, give_up
        self.batch, self.p_min = batch, p_min
        self.items = []
        self.unexpected = 0
        self.unexpected_kinds = {}
        self.unanswered = {}
        self.decided_after = None


async def warm(ctx, item):
    """Two look-ups on each watcher: the first caches the key (a look-up
    that raced a local change is not cached, the second one then is)."""
    for node in item.watchers:
        answered = 0
        for _ in range(8):
            try:
                works = await item.probe.works(ctx.clients[node], ctx.verifier)
            except Unanswered:
                continue
            if not works:
                raise SetupError(f"{item.name}: refused on node {ctx.names[node]} before the change")
            answered += 1
            if answered == 2:
                break
        else:
            raise SetupError(f"{item.name}: node {ctx.names[node]} did not answer its look-ups")


async def watch(ctx, phase, item, node, t_ack):
    client = ctx.clients[node]
    at_bound_done = False
    while True:
        now = time.monotonic()
        elapsed = now - t_ack
        if elapsed > phase.give_up:
            return None
        try:
            works = await item.probe.works(client, ctx.verifier)
        except Unanswered as err:
            # A look-up that got no answer (a dropped connection, a 408 of a
            # starved worker) says nothing either way: look again.
            phase.unanswered[str(err)] = phase.unanswered.get(str(err), 0) + 1
            works = True
        except Unexpected as err:
            phase.unexpected += 1
            phase.unexpected_kinds[str(err)] = phase.unexpected_kinds.get(str(err), 0) + 1
            works = True
        if not works:
            return max(0.0, time.monotonic() - t_ack)
        # Fine-grained at first, then 5 % of the time waited (at most 1 s),
        # with one look exactly at the bound so the verdict is exact there.
        interval = max(phase.p_min, min(1.0, elapsed / 20))
        wake = now + interval
        if not at_bound_done and wake >= t_ack + phase.bound:
            wake = t_ack + phase.bound
            at_bound_done = True
        await asyncio.sleep(max(0.0, wake - time.monotonic()))


async def run_item(ctx, phase, item):
    item.ran = True
    try:
        await item.change(ctx.clients[item.actor])
    except Exception as err:  # noqa: BLE001 - recorded and judged
        item.error = f"change failed: {err}"
        return
    t_ack = time.monotonic()
    seen = await asyncio.gather(*(watch(ctx, phase, item, n, t_ack) for n in item.watchers))
    item.delay = None if any(s is None for s in seen) else max(seen)


def needed_beyond(n):
    """How many of n delays may exceed the bound before p99 does."""
    idx = min(n - 1, max(0, int(round(0.99 * (n - 1)))))
    return n - idx


async def run_phase(ctx, phase, items, decide_early=True):
    phase.items = items
    beyond = 0
    limit = needed_beyond(len(items))
    for start in range(0, len(items), phase.batch):
        chunk = items[start:start + phase.batch]
        # All warm-ups of a batch before any of its changes: no local change
        # on a watcher can then keep a warm-up from being cached.
        await asyncio.gather(*(warm(ctx, it) for it in chunk))
        await asyncio.gather(*(run_item(ctx, phase, it) for it in chunk))
        beyond += sum(1 for it in chunk if it.delay is None or it.delay > phase.bound)
        if decide_early and beyond >= limit and start + len(chunk) < len(items):
            phase.decided_after = start + len(chunk)
            break


def judge(report, phase, what, also=True, why=""):
    ran = [it for it in phase.items if it.ran and it.error is None]
    errors = [it for it in phase.items if it.error]
    delays = [it.delay if it.delay is not None else float("inf") for it in ran]
    censored = sum(1 for d in delays if d == float("inf"))
    beyond = sum(1 for d in delays if d > phase.bound)

    def fmt(v):
        return f"> {phase.give_up:.1f} s" if v == float("inf") else f"{v * 1000:.0f} ms" \
            if v < 10 else f"{v:.1f} s"

    n = len(phase.items)
    p99 = percentile(delays, 99)
    if phase.decided_after:
        # The keys not run would have to be all within the bound: p99 is
        # beyond it whatever they show.
        verdict = (f"p99 of those {fmt(p99)}: p99 > {phase.bound * 1000:.0f} ms decided "
                   f"after {len(ran)} of {n} keys")
        passed = False
    else:
        verdict = f"p99 {fmt(p99)}"
        passed = bool(delays) and p99 <= phase.bound
    text = (f"{phase.label}: {what}: delay p50 {fmt(percentile(delays, 50))}, {verdict}, "
            f"max {fmt(max(delays, default=0))} (bound {phase.bound * 1000:.0f} ms); "
            f"{beyond} beyond the bound, {censored} not refused within "
            f"{phase.give_up:.1f} s")
    if phase.unexpected:
        text += (f"; {phase.unexpected} look-ups answered neither yes nor no ("
                 + ", ".join(f"{v}× {k}" for k, v in sorted(phase.unexpected_kinds.items()))
                 + ")")
    if phase.unanswered:
        text += (f"; {sum(phase.unanswered.values())} look-ups got no answer and were repeated ("
                 + ", ".join(f"{v}× {k}" for k, v in sorted(phase.unanswered.items())) + ")")
    report.check(passed and not errors and not phase.unexpected and also, text,
                 "; ".join([it.error for it in errors[:3]] + ([why] if not also else [])))
    return delays


# ---------------------------------------------------------------- keys


async def create_keys(ctx, n, label, **extra):
    sem = asyncio.Semaphore(24)

    async def one(i):
        async with sem:
            body = {"name": f"{label} {i}", "api_key_role": "serving", **extra}
            made = await expect(ctx.clients[(i + 1) % 3].post("/v1/api_keys", body,
                                                              key=ctx.verifier),
                                201, "create api key")
            return made.json()

    return await asyncio.gather(*(one(i) for i in range(n)))


def revocation_items(made, verifier, offset=0):
    items = []
    for j, key in enumerate(made):
        i = j + offset
        actor = i % 3
        watchers = [n for n in range(3) if n != actor]
        mode = VERIFY if i % 2 == 0 else ME
        kid = key["id"]
        if (i // 2) % 2 == 0:
            async def change(client, kid=kid):
                await expect(client.patch(f"/v1/api_keys/{kid}", {"enabled": False},
                                          key=verifier), 200, "disable")
            what = "disable"
        else:
            async def change(client, kid=kid):
                await expect(client.delete(f"/v1/api_keys/{kid}", key=verifier), 204,
                             "delete")
            what = "delete"
        items.append(Item(f"key {i} ({what})", actor, watchers, Probe(key["key"], mode), change))
    return items



def knobs(ctx):
    return {
        "bound": env_int("KEYGATE_MULTINODE_REVOKE_BOUND_MS", 1000) / 1000,
        "ttl": ctx.ttl_ms / 1000,
        "poll": env_int("KEYGATE_MULTINODE_POLL_INTERVAL_MS", 1000) / 1000,
    }


# ---------------------------------------------------------------- control


async def control(ctx, report):
    hold = env_int("KEYGATE_MULTINODE_CONTROL_MS", 2000) / 1000
    if hold <= 0:
        report.note("control skipped (KEYGATE_MULTINODE_CONTROL_MS=0)")
        return
    made = await create_keys(ctx, 3, "mn control")
    probes = [Probe(k["key"], VERIFY) for k in made]
    for p in probes:
        await warm(ctx, Item("control", None, [0, 1, 2], p, None))
    ids = ", ".join(f"'{k['id']}'" for k in made)
    ctx.pair.query(f"UPDATE api_keys SET enabled = false WHERE id IN ({ids})")
    t0 = time.monotonic()
    refused_at = None
    while time.monotonic() - t0 < hold and refused_at is None:
        answers = await asyncio.gather(*(p.works(ctx.clients[n], ctx.verifier)
                                         for p in probes for n in range(3)))
        if not all(answers):
            refused_at = time.monotonic() - t0
        await asyncio.sleep(0.2)
    report.check(refused_at is None,
                 f"control: 3 keys cached on every node and disabled behind keygate's back "
                 f"(no invalidation row) still verify on all 3 nodes after {hold:.1f} s: the "
                 f"cache TTL ({ctx.ttl_ms} ms) is in effect" if refused_at is None else
                 f"control: a key disabled behind keygate's back was refused after "
                 f"{refused_at:.2f} s: no cache or a short TTL, so quick refusals prove nothing",
                 "")


# ---------------------------------------------------------------- kinds


def cluster_body(tag):
    import uuid
    return {"name": f"mn {tag}", "self_managed_cluster": {"id": uuid.uuid4().hex, "name": tag,
                                                           "version": "9.1.0"},
            "services": {"eis": {"enabled": True}}}


async def kinds(ctx, report):
    k = knobs(ctx)
    v = ctx.verifier
    c0 = ctx.clients[0]
    items = []
    past = (datetime.datetime.now(datetime.timezone.utc) -
            datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def new_key(**extra):
        return (await expect(c0.post("/v1/api_keys", {"name": "mn kind", "api_key_role":
                                                      "serving", **extra}, key=v),
                             201, "create api key")).json()

    def add(name, n, probe, change):
        items.append(Item(name, n % 3, [m for m in range(3) if m != n % 3], probe, change))

    # API key: rotate (grace) through A, then revoke_pending through A.
    a = await new_key()

    async def rotate_revoke(client, kid=a["id"]):
        await expect(client.post(f"/v1/api_keys/{kid}/rotate", {"grace_period_seconds": 3600},
                                 key=v), 200, "rotate")
        await expect(client.post(f"/v1/api_keys/{kid}/revoke_pending", key=v), 200,
                     "revoke_pending")
    add("api key rotate + revoke_pending: the pending key", 0, Probe(a["key"], VERIFY),
        rotate_revoke)

    b = await new_key()

    async def rotate_zero(client, kid=b["id"]):
        await expect(client.post(f"/v1/api_keys/{kid}/rotate", {"grace_period_seconds": 0},
                                 key=v), 200, "rotate")
    add("api key rotate with zero grace: the old key", 1, Probe(b["key"], ME), rotate_zero)

    c = await new_key()

    async def expire(client, kid=c["id"]):
        await expect(client.patch(f"/v1/api_keys/{kid}", {"expires_at": past}, key=v), 200,
                     "expire")
    add("api key expires_at set in the past", 2, Probe(c["key"], VERIFY), expire)

    d = await new_key()

    async def cidrs(client, kid=d["id"]):
        await expect(client.patch(f"/v1/api_keys/{kid}", {"allowed_cidrs": ["10.0.0.0/8"]},
                                  key=v), 200, "allowed_cidrs")
    add("api key allowed_cidrs narrowed (verify from 192.0.2.10)", 0,
        Probe(d["key"], VERIFY, client_ip="192.0.2.10"), cidrs)

    e = await new_key(api_policy={"allowed_operations": {"get_me": {}, "list_api_keys": {}}})

    async def policy(client, kid=e["id"]):
        await expect(client.patch(f"/v1/api_keys/{kid}", {"api_policy": {"allowed_operations": {
            "list_api_keys": {}}}}, key=v), 200, "api_policy")
    add("api key api_policy without get_me (GET /v1/me 403)", 1, Probe(e["key"], ME), policy)

    clusters = []
    for tag in ("rotate", "service", "disconnect"):
        made = await expect(c0.post("/v1/clusters?create_api_key=true", cluster_body(tag), key=v),
                            201, "create cluster")
        clusters.append(made.json())
    cr, cs, cd = clusters

    async def c_rotate_revoke(client, cid=cr["id"]):
        await expect(client.post(f"/v1/clusters/{cid}/api_key/rotate",
                                 {"grace_period_seconds": 3600}, key=v), 200, "cluster rotate")
        await expect(client.post(f"/v1/clusters/{cid}/api_key/revoke_pending", key=v), 200,
                     "cluster revoke_pending")
    add("cluster key rotate + revoke_pending: the pending key", 2, Probe(cr["key"], VERIFY),
        c_rotate_revoke)

    service_key = (await expect(c0.post(f"/v1/clusters/{cs['id']}/services/eis/api_key/rotate",
                                        key=v), 200, "issue service key")).json()["key"]

    async def disable_service(client, cid=cs["id"]):
        await expect(client.patch(f"/v1/clusters/{cid}", {"services": {"eis": {"enabled": False}}},
                                  key=v), 200, "disable service")
    add("cluster service disabled by PATCH: its key", 0, Probe(service_key, VERIFY),
        disable_service)

    async def disconnect(client, cid=cd["id"]):
        await expect(client.delete(f"/v1/clusters/{cid}", key=v), 204, "disconnect")
    add("cluster disconnected: its key", 1, Probe(cd["key"], VERIFY), disconnect)

    give_up = k["bound"] + env_int("KEYGATE_MULTINODE_KIND_SLACK_MS", 2000) / 1000
    phase = Phase("kinds", k["bound"], give_up, len(items), 0.01)
    await run_phase(ctx, phase, items, decide_early=False)
    for it in items:
        d = it.delay
        who = "/".join(ctx.names[n] for n in it.watchers)
        shown = (f"refused by {who} after {d * 1000:.0f} ms" if d is not None else
                 f"not refused by {who} within {give_up:.1f} s")
        report.check(it.error is None and d is not None and d <= k["bound"],
                     f"kinds: {it.name}, through node {ctx.names[it.actor]}: {shown} "
                     f"(bound {k['bound'] * 1000:.0f} ms)", it.error or "")


# ---------------------------------------------------------------- parts


async def main(ctx, report):
    k = knobs(ctx)
    await control(ctx, report)
    n = env_int("KEYGATE_MULTINODE_REVOCATIONS", 1000)
    made = await create_keys(ctx, n, "mn revoke")
    phase = Phase("notify", k["bound"],
                  give_up=k["ttl"] + env_int("KEYGATE_MULTINODE_GIVE_UP_SLACK_MS", 2000) / 1000,
                  batch=env_int("KEYGATE_MULTINODE_REVOKE_CONCURRENCY", 12),
                  p_min=env_int("KEYGATE_MULTINODE_PROBE_MS", 20) / 1000)
    t = time.monotonic()
    await run_phase(ctx, phase, revocation_items(made, ctx.verifier))
    judge(report, phase, f"{n} keys disabled or deleted through one node, refused by the two "
                         f"others (TTL {ctx.ttl_ms} ms; {time.monotonic() - t:.0f} s)")
    await kinds(ctx, report)


async def listener(ctx, report):
    k = knobs(ctx)
    found = cluster.listener_count(ctx.pair)
    report.check(found >= 3, f"listener: {found} listener connections in pg_stat_activity "
                             f"(application_name '{cluster.LISTENER_APP}' or LISTEN), at least 3 "
                             f"wanted (one per node)")

    n = env_int("KEYGATE_MULTINODE_KILLED_REVOCATIONS", 100)
    made = await create_keys(ctx, n, "mn killed")
    bound = k["poll"] + k["ttl"]
    phase = Phase("killed", bound,
                  give_up=bound + env_int("KEYGATE_MULTINODE_GIVE_UP_SLACK_MS", 2000) / 1000,
                  batch=env_int("KEYGATE_MULTINODE_KILLED_CONCURRENCY", n),
                  p_min=env_int("KEYGATE_MULTINODE_KILLED_PROBE_MS", 200) / 1000)
    killer = cluster.ListenerKiller(ctx.pair, cluster.kill_interval()).start()
    t = time.monotonic()
    try:
        await asyncio.sleep(0.5)  # the first kills land before the first change
        await run_phase(ctx, phase, revocation_items(made, ctx.verifier, offset=1))
    finally:
        await asyncio.to_thread(killer.stop)
    judge(report, phase, f"{n} revocations while listener connections are killed every "
                         f"{cluster.kill_interval() * 1000:.0f} ms ({killer.kills} killed in "
                         f"{killer.rounds} rounds{'; killer: ' + killer.error if killer.error else ''}; "
                         f"bound = poll interval {k['poll'] * 1000:.0f} ms + TTL "
                         f"{ctx.ttl_ms} ms; {time.monotonic() - t:.0f} s)",
          also=killer.kills >= 3,
          why=f"{killer.kills} listener connections killed: the phase needs at least one per "
              f"node, or it did not test a killed listener")

    reconnect_bound = env_int("KEYGATE_MULTINODE_RECONNECT_BOUND_MS", 10000) / 1000
    t0 = time.monotonic()
    back = None
    count = 0
    while time.monotonic() - t0 < reconnect_bound:
        count = await asyncio.to_thread(cluster.listener_count, ctx.pair)
        if count >= 3:
            back = time.monotonic() - t0
            break
        await asyncio.sleep(0.1)
    report.check(back is not None,
                 f"reconnect: {count} listener connections {back:.2f} s after the killing "
                 f"stopped (bound {reconnect_bound:.1f} s)" if back is not None else
                 f"reconnect: {count} listener connections {reconnect_bound:.1f} s after the "
                 f"killing stopped, at least 3 wanted")

    n2 = env_int("KEYGATE_MULTINODE_AFTER_REVOCATIONS", 50)
    made = await create_keys(ctx, n2, "mn after")
    phase = Phase("after", k["bound"],
                  give_up=k["bound"] + env_int("KEYGATE_MULTINODE_KIND_SLACK_MS", 2000) / 1000,
                  batch=env_int("KEYGATE_MULTINODE_REVOKE_CONCURRENCY", 12),
                  p_min=env_int("KEYGATE_MULTINODE_PROBE_MS", 20) / 1000)
    await run_phase(ctx, phase, revocation_items(made, ctx.verifier, offset=2))
    judge(report, phase, f"{n2} revocations once the listeners are back")
