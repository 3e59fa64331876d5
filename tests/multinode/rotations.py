"""rotations: KEYGATE_MULTINODE_ROTATIONS (default 1000) `rotate` calls sent
at once, spread over the three nodes and over a few keys
(KEYGATE_MULTINODE_ROTATION_KEYS, default 10: API keys, one cluster key and
one cluster service key), all with a one-hour grace, leave each key with
exactly one current secret.

Each round runs on fresh keys, once per isolation level of
KEYGATE_MULTINODE_ROTATION_ISOLATIONS (default "read_committed serializable").
For `serializable` the suite sets `default_transaction_isolation` on
keygate's database and restarts the three nodes so their connections take
it (and resets it after), so serialization failures (40001) happen and must
be retried, never answered 500.

Checks, per round:
- answers: only 200, 409 or 503 with Retry-After (a loser may be told to
  come back; a 500 or a dropped connection is a failure);
- key_secrets (read on the primary): every owner has exactly one `current`
  row, and every secret a 200 handed out is stored (its SHA-256 is there);
- verify: of every key handed out (and the one the owner started with),
  spread over the nodes, all verify valid (the grace is an hour), exactly one
  says `current`, and it is the one the owner's view shows (key_prefix and
  key_last4);
- revoke_pending through one node leaves key_secrets with only the current
  row, and through that node only the view's key still verifies.
"""

import asyncio
import hashlib
import uuid

from harness import env_int, expect, statuses

GRACE = {"grace_period_seconds": 3600}


class Owner:
    def __init__(self, name, path, rotate, revoke, kind, owner_id, summary, first_key):
        self.name, self.path, self.rotate, self.revoke = name, path, rotate, revoke
        self.kind, self.owner_id, self.summary = kind, owner_id, summary
        self.issued = [first_key] if first_key else []
        self.answers = []


def sha(key):
    return hashlib.sha256(key.encode()).hexdigest()


async def make_owners(ctx, n, tag):
    v = ctx.verifier
    c = ctx.clients[0]
    owners = []
    api_keys = max(1, n - 2)
    for i in range(api_keys):
        made = (await expect(c.post("/v1/api_keys", {"name": f"mn rotate {tag} {i}",
                                                     "api_key_role": "serving"}, key=v),
                             201, "create api key")).json()
        kid = made["id"]
        owners.append(Owner(f"api key {i}", f"/v1/api_keys/{kid}", f"/v1/api_keys/{kid}/rotate",
                            f"/v1/api_keys/{kid}/revoke_pending", "api_key", kid,
                            lambda view: view, made["key"]))
    if n >= 2:
        body = {"name": f"mn rotate {tag}",
                "self_managed_cluster": {"id": uuid.uuid4().hex, "name": "rot", "version": "9.1.0"},
                "services": {"eis": {"enabled": True}}}
        cl = (await expect(c.post("/v1/clusters?create_api_key=true", body, key=v), 201,
                           "create cluster")).json()
        cid = cl["id"]
        owners.append(Owner("cluster key", f"/v1/clusters/{cid}",
                            f"/v1/clusters/{cid}/api_key/rotate",
                            f"/v1/clusters/{cid}/api_key/revoke_pending", "cluster", cid,
                            lambda view: view["api_key"], cl["key"]))
    if n >= 3:
        body = {"name": f"mn rotate service {tag}",
                "self_managed_cluster": {"id": uuid.uuid4().hex, "name": "rot", "version": "9.1.0"},
                "services": {"eis": {"enabled": True}}}
        cl = (await expect(c.post("/v1/clusters", body, key=v), 201, "create cluster")).json()
        cid = cl["id"]
        first = (await expect(c.post(f"/v1/clusters/{cid}/services/eis/api_key/rotate", key=v),
                              200, "issue service key")).json()["key"]
        owners.append(Owner("cluster service key", f"/v1/clusters/{cid}",
                            f"/v1/clusters/{cid}/services/eis/api_key/rotate",
                            f"/v1/clusters/{cid}/services/eis/api_key/revoke_pending",
                            "cluster_service", f"{cid}:eis",
                            lambda view: view["services"]["eis"]["api_key"], first))
    return owners


def db_rows(ctx, owner):
    return ctx.pair.query(f"SELECT key_hash, state FROM key_secrets WHERE owner_kind = "
                          f"'{owner.kind}' AND owner_id = '{owner.owner_id}'")


async def verify_many(ctx, keys):
    sem = asyncio.Semaphore(48)

    async def one(i, k):
        async with sem:
            r = await ctx.clients[i % 3].post("/v1/verify", {"key": k}, key=ctx.verifier)
            return r.json() if r.status == 200 else {"valid": None, "http": r.status}

    return await asyncio.gather(*(one(i, k) for i, k in enumerate(keys)))


def shown(summary):
    return (summary["key_prefix"], summary["key_last4"]) if summary else None


async def round_(ctx, report, isolation, total, n_owners):
    owners = await make_owners(ctx, n_owners, isolation)
    n_owners = len(owners)
    await asyncio.gather(*(c.warm(min(total // 3 + 1, 300)) for c in ctx.clients))
    v = ctx.verifier

    async def one(i):
        owner = owners[i % n_owners]
        resp = await ctx.clients[i % 3].post(owner.rotate, GRACE, key=v, timeout=60)
        owner.answers.append(resp)
        if resp.status == 200:
            owner.issued.append(resp.json()["key"])
        return resp

    answers = await asyncio.gather(*(one(i) for i in range(total)), return_exceptions=True)
    bad = [a for a in answers if not (getattr(a, "status", None) in (200, 409) or (
        getattr(a, "status", None) == 503 and a.header("retry-after")))]
    ok = sum(1 for a in answers if getattr(a, "status", None) == 200)
    tag = f"{isolation}"
    report.check(not bad, f"{tag}: {total} concurrent rotations over 3 nodes and {n_owners} keys: "
                          f"{', '.join(f'{n}×{s}' for s, n in statuses(answers).items())}",
                 f"not 200, 409 or 503 with Retry-After: {statuses(bad)}" if bad else "")

    currents, missing = [], 0
    for o in owners:
        rows = db_rows(ctx, o)
        currents.append(sum(1 for _, state in rows if state == "current"))
        stored = {h for h, _ in rows}
        missing += sum(1 for k in o.issued if sha(k) not in stored)
    report.check(all(c == 1 for c in currents) and not missing,
                 f"{tag}: key_secrets: current secrets per key {currents} (1 each wanted); "
                 f"{missing} of {sum(len(o.issued) for o in owners)} keys handed out are not "
                 f"stored")

    wrong = []
    for o in owners:
        verdicts = await verify_many(ctx, o.issued)
        valid = [k for k, x in zip(o.issued, verdicts) if x.get("valid")]
        current = [k for k, x in zip(o.issued, verdicts) if x.get("valid") and
                   x.get("status") == "current"]
        view = (await expect(ctx.clients[1].get(o.path, key=v), 200, f"GET {o.path}")).json()
        in_view = shown(o.summary(view))
        if len(valid) != len(o.issued) or len(current) != 1 or \
                (current[0][:10], current[0][-4:]) != in_view:
            wrong.append(f"{o.name}: {len(valid)}/{len(o.issued)} valid, {len(current)} current"
                         f"{', not the view' if len(current) == 1 else ''}")
    report.check(not wrong,
                 f"{tag}: verify of the {sum(len(o.issued) for o in owners)} keys handed out "
                 f"(and the first ones) over 3 nodes: all valid, exactly one current per key and "
                 f"it is the view's" + (f"; {len(wrong)} keys wrong" if wrong else ""),
                 "; ".join(wrong[:4]))

    left_bad = []
    for i, o in enumerate(owners):
        node = ctx.clients[i % 3]
        r = await node.post(o.revoke, key=v)
        if r.status != 200:
            left_bad.append(f"{o.name}: revoke_pending {r.status}")
            continue
        rows = db_rows(ctx, o)
        states = sorted(s for _, s in rows)
        verdicts = []
        for k in o.issued:
            x = await node.post("/v1/verify", {"key": k}, key=v)
            verdicts.append(x.json().get("valid") if x.status == 200 else None)
        working = [k for k, ok_ in zip(o.issued, verdicts) if ok_]
        view = (await node.get(o.path, key=v)).json()
        if states != ["current"] or len(working) != 1 or \
                (working[0][:10], working[0][-4:]) != shown(o.summary(view)):
            left_bad.append(f"{o.name}: key_secrets {states[:4]}{'...' if len(states) > 4 else ''}"
                            f", {len(working)} keys still verify")
    report.check(not left_bad,
                 f"{tag}: revoke_pending through one node: key_secrets keeps one current row per "
                 f"key and only the view's key verifies there"
                 + (f"; {len(left_bad)} of {len(owners)} keys wrong" if left_bad else ""),
                 "; ".join(left_bad[:4]))
    report.note(f"{tag}: {ok} of {total} rotations acknowledged")


async def set_isolation(ctx, level):
    if level:
        ctx.pair.query(f"ALTER DATABASE {ctx.pair.db} SET default_transaction_isolation = "
                       f"'{level}'")
    else:
        ctx.pair.query(f"ALTER DATABASE {ctx.pair.db} RESET default_transaction_isolation")
    await ctx.restart_nodes()


async def main(ctx, report):
    total = env_int("KEYGATE_MULTINODE_ROTATIONS", 1000)
    n_owners = env_int("KEYGATE_MULTINODE_ROTATION_KEYS", 10)
    import os
    levels = os.environ.get("KEYGATE_MULTINODE_ROTATION_ISOLATIONS",
                            "read_committed serializable").split()
    for level in levels:
        if level not in ("read_committed", "serializable"):
            raise ValueError(f"KEYGATE_MULTINODE_ROTATION_ISOLATIONS: unknown {level!r}")
        if level == "serializable":
            await set_isolation(ctx, "serializable")
            try:
                got = ctx.pair.query("SHOW default_transaction_isolation")[0][0]
                report.note(f"serializable: nodes restarted; a new session shows "
                            f"default_transaction_isolation = {got}")
                await round_(ctx, report, level, total, n_owners)
            finally:
                await set_isolation(ctx, None)
        else:
            await round_(ctx, report, level, total, n_owners)
