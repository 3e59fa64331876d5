"""race: optimistic concurrency holds under concurrency (the
row is locked or the update is conditional), and a key has exactly one
current secret whatever the callers do at once.

All requests of a burst are sent together over pre-opened connections
(KEYGATE_RELIABILITY_RACE_N, default 200; each same-If-Match burst is
repeated KEYGATE_RELIABILITY_RACE_REPEAT times, default 6), against a keygate whose pool
(KEYGATE_RELIABILITY_RACE_POOL_SIZE, default 16) lets many transactions run
side by side.

- First seals: N concurrent PUTs of new secrets as a fresh database's
  first secret writes (a fresh database per repetition): all 201, no
  spurious 409 (the first seal records the master key's id).
- For an API key, a cluster key and a cluster service key:
  - N rotates with the same `If-Match`: exactly one 2xx, the rest 412;
  - then N rotates without `If-Match`: all succeed, and afterwards exactly
    one secret is `current`, seen both in `key_secrets` and through
    `POST /v1/verify` of every key handed out (one `current`, the one the
    view shows; the rest `pending`);
  - then `revoke_pending`: exactly one of every key ever handed out still
    verifies, and it is the view's.
- N same-`If-Match` PATCHes of an API key, PUTs of a secret and PATCHes of
  a cluster: exactly one 2xx, the rest 412, and the stored value is the
  winner's; N same-`If-Match` DELETEs of an API key: exactly one 204, the
  rest 412 or 404.
Every burst: no 5xx, no dropped connection.
"""

import asyncio
import uuid

from harness import Client, Database, Server, env_int, expect, statuses

GRACE = {"grace_period_seconds": 3600}


class Kind:
    def __init__(self, name, path, rotate, revoke, owner_kind, owner_id, summary):
        self.name, self.path, self.rotate, self.revoke = name, path, rotate, revoke
        self.owner_kind, self.owner_id, self.summary = owner_kind, owner_id, summary


def shown(summary):
    return (summary["key_prefix"], summary["key_last4"]) if summary else None


async def burst(client, n, make):
    return await asyncio.gather(*(make(i) for i in range(n)), return_exceptions=True)


def count(responses, *codes):
    return sum(1 for r in responses if getattr(r, "status", None) in codes)


def fmt(responses):
    return ", ".join(f"{v}×{k}" for k, v in statuses(responses).items())


async def verify_all(client, key, keys):
    answers = await asyncio.gather(*(client.post("/v1/verify", {"key": k}, key=key)
                                     for k in keys))
    return [a.json() for a in answers]


def db_states(db, kind):
    rows = db.query("SELECT state, count(*) FROM key_secrets WHERE owner_kind = %s AND "
                    "owner_id = %s GROUP BY state", (kind.owner_kind, kind.owner_id))
    return {state: int(n) for state, n in rows}


async def rotations(client, key, db, kind, n, repeat, report, issued):
    winners_per_burst, others = [], []
    current_after_same = []
    for _ in range(repeat):
        etag = (await expect(client.get(kind.path, key=key), 200,
                             f"GET {kind.path}")).header("etag")
        same = await burst(client, n, lambda i: client.post(kind.rotate, GRACE, key=key,
                                                             headers={"If-Match": etag}))
        winners = [r for r in same if getattr(r, "status", None) == 200]
        issued += [r.json()["key"] for r in winners]
        winners_per_burst.append(len(winners))
        others += [r for r in same if getattr(r, "status", None) not in (200, 412)]
        current_after_same.append(db_states(db, kind).get("current", 0))
    report.check(all(w == 1 for w in winners_per_burst) and not others,
                 f"{kind.name}: {repeat}×{n} same-If-Match rotates: winners per burst "
                 f"{winners_per_burst}, the rest 412",
                 f"other answers: {statuses(others)}" if others else "")

    free = await burst(client, n, lambda i: client.post(kind.rotate, GRACE, key=key))
    issued += [r.json()["key"] for r in free if getattr(r, "status", None) == 200]
    states = db_states(db, kind)
    verdicts = await verify_all(client, key, issued)
    current = [k for k, v in zip(issued, verdicts) if v["valid"] and v["status"] == "current"]
    view = (await client.get(kind.path, key=key)).json()
    in_view = shown(kind.summary(view))
    current_shown = [k for k in current if (k[:10], k[-4:]) == in_view]
    report.check(count(free, 200) == n and states.get("current", 0) == 1 and
                 all(c == 1 for c in current_after_same) and len(current) == 1 and
                 len(current_shown) == 1,
                 f"{kind.name}: {n} concurrent rotates ({fmt(free)}): current secrets in "
                 f"key_secrets {current_after_same} after the If-Match bursts, "
                 f"{states.get('current', 0)} after this one; keys verifying as current "
                 f"{len(current)}, the view's among them {len(current_shown)}")

    revoked = await expect(client.post(kind.revoke, key=key), 200, f"POST {kind.revoke}")
    verdicts = await verify_all(client, key, issued)
    working = [k for k, v in zip(issued, verdicts) if v["valid"]]
    left = db_states(db, kind)
    view = (await client.get(kind.path, key=key)).json()
    report.check(len(working) == 1 and (working[0][:10], working[0][-4:]) == shown(
                     kind.summary(view)) and left == {"current": 1},
                 f"{kind.name}: after revoke_pending (revoked {revoked.json()['revoked']}) "
                 f"{len(working)} of {len(issued)} keys handed out still verify, key_secrets "
                 f"holds {left}")


async def if_match_writers(client, key, n, repeat, report, what, path, method, body_of,
                           final, ok_status=200, also_ok=(), prepare=None):
    winners_per_burst, others, wrong_value = [], [], 0
    for r in range(repeat):
        if prepare:
            await prepare(r)
        etag = (await expect(client.get(path(r), key=key), 200, f"GET {path(r)}")).header("etag")
        answers = await burst(client, n, lambda i: client.request(
            method, path(r), key=key, body=body_of(i), headers={"If-Match": etag}))
        won = [i for i, a in enumerate(answers) if getattr(a, "status", None) == ok_status]
        winners_per_burst.append(len(won))
        others += [a for a in answers
                   if getattr(a, "status", None) not in (ok_status, 412, *also_ok)]
        if final is not None and len(won) == 1 and not await final(path(r), won[0]):
            wrong_value += 1
    report.check(all(w == 1 for w in winners_per_burst) and not others and not wrong_value,
                 f"{what}: {repeat}×{n} same-If-Match writers: winners per burst "
                 f"{winners_per_burst}, the rest {'/'.join(map(str, (412, *also_ok)))}"
                 + (f"; {wrong_value} stored values not the winner's" if wrong_value else ""),
                 f"other answers: {statuses(others)}" if others else "")


async def first_seals(backend, n, repeat, pool, report):
    """The first secrets of a fresh database, written at once: each burst
    needs a database of its own."""
    seen = []
    for r in range(repeat):
        db = Database(backend, f"race-seal-{r}")
        server = Server(f"race-seal-{backend}-{r}", db.url, env={"KEYGATE_POOL_SIZE": str(pool)})
        try:
            server.start()
            client = Client(server.port, max_conns=n, timeout=60)
            await client.warm(n)
            seen += await burst(client, n, lambda i: client.put(
                f"/v1/secrets/race-first-{i}", {"value": f"first {i}"}, key=server.bootstrap_key))
            await client.close()
        finally:
            server.stop()
            db.drop()
    report.check(count(seen, 201) == len(seen),
                 f"first seals: {repeat}×{n} concurrent first secret writes of a fresh "
                 f"database: {fmt(seen)}", "a new secret id must never be 409")


async def main(backend, report):
    n = env_int("KEYGATE_RELIABILITY_RACE_N", 200)
    repeat = env_int("KEYGATE_RELIABILITY_RACE_REPEAT", 6)
    pool = env_int("KEYGATE_RELIABILITY_RACE_POOL_SIZE", 16)
    await first_seals(backend, n, repeat, pool, report)
    db = Database(backend, "race")
    server = Server(f"race-{backend}", db.url, env={"KEYGATE_POOL_SIZE": str(pool)})
    try:
        server.start()
        key = server.bootstrap_key
        client = Client(server.port, max_conns=n, timeout=60)
        await client.warm(n)
        await expect(client.put("/v1/secrets/race-first", {"value": "first"}, key=key), 201,
                     "first secret")

        made = (await expect(client.post("/v1/api_keys", {"name": "race",
                                                          "api_key_role": "serving"},
                                         key=key), 201, "create api key")).json()
        await rotations(client, key, db, Kind(
            "api key", f"/v1/api_keys/{made['id']}", f"/v1/api_keys/{made['id']}/rotate",
            f"/v1/api_keys/{made['id']}/revoke_pending", "api_key", made["id"], lambda v: v),
            n, repeat, report, [made["key"]])

        clusters = []
        for which in ("cluster", "service"):
            body = {"name": f"race {which}",
                    "self_managed_cluster": {"id": uuid.uuid4().hex, "name": "race",
                                             "version": "9.1.0"},
                    "services": {"eis": {"enabled": True}}}
            made = await expect(client.post("/v1/clusters?create_api_key=true", body, key=key),
                                201, "create cluster")
            clusters.append(made.json())
        c = clusters[0]
        await rotations(client, key, db, Kind(
            "cluster key", f"/v1/clusters/{c['id']}", f"/v1/clusters/{c['id']}/api_key/rotate",
            f"/v1/clusters/{c['id']}/api_key/revoke_pending", "cluster", c["id"],
            lambda v: v["api_key"]), n, repeat, report, [c["key"]])
        s = clusters[1]
        await rotations(client, key, db, Kind(
            "cluster service key", f"/v1/clusters/{s['id']}",
            f"/v1/clusters/{s['id']}/services/eis/api_key/rotate",
            f"/v1/clusters/{s['id']}/services/eis/api_key/revoke_pending",
            "cluster_service", f"{s['id']}:eis", lambda v: v["services"]["eis"]["api_key"]),
            n, repeat, report, [])

        async def name_is(path, i):
            return (await client.get(path, key=key)).json()["name"] == f"race {i}"

        async def value_is(path, i):
            return (await client.get(path, key=key)).json()["value"] == f"race {i}"

        targets = []
        for r in range(repeat):
            targets.append((await expect(client.post("/v1/api_keys", {
                "name": f"race target {r}", "api_key_role": "serving"}, key=key), 201,
                "create api key")).json()["id"])

        async def new_secret(r):
            await expect(client.put(f"/v1/secrets/race-if-match-{r}", {"value": "start"},
                                    key=key), 201, "create secret")

        await if_match_writers(client, key, n, repeat, report, "api key PATCH",
                               lambda r: f"/v1/api_keys/{targets[r]}", "PATCH",
                               lambda i: {"name": f"race {i}"}, name_is)
        await if_match_writers(client, key, n, repeat, report, "secret PUT",
                               lambda r: f"/v1/secrets/race-if-match-{r}", "PUT",
                               lambda i: {"value": f"race {i}"}, value_is, prepare=new_secret)
        await if_match_writers(client, key, n, repeat, report, "cluster PATCH",
                               lambda r: f"/v1/clusters/{clusters[0]['id']}", "PATCH",
                               lambda i: {"name": f"race {i}"}, name_is)
        await if_match_writers(client, key, n, repeat, report, "api key DELETE",
                               lambda r: f"/v1/api_keys/{targets[r]}", "DELETE",
                               lambda i: None, None, ok_status=204, also_ok=(404,))
        await client.close()
    finally:
        server.stop()
        db.drop()
