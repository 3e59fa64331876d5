"""kill: every acknowledged write survives SIGKILL.

Several writers create and change secrets and API keys while keygate is
SIGKILLed and restarted on the same port again and again. Each writer owns
its resources and writes them one request at a time, so for each resource
the order of attempts is known. A write is *acknowledged* when it got a
2xx. After the load, keygate is killed once more and restarted, and then:

- every acknowledged secret reads back (`GET /v1/secrets/{id}`) with exactly
  the value of its last acknowledged write, or with the value of a later
  write that got no answer (it may have committed just before the kill);
- every acknowledged API key exists with its role and a name it was given,
  the view shows the secret of its last acknowledged rotation, and every
  secret it was ever acknowledged with still verifies (`POST /v1/verify`:
  `VALID`; the last one `current`, earlier ones `pending`);
- every acknowledged write has its audit event (same transaction);
- no answer was a 500 or another unexpected status.
"""

import asyncio
import os
import random
import time

from harness import (Client, Database, Server, env_float, env_int, percentile)

ALPHABET = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
            " -_/+=.,;:!?\"\\\n\té€漢😀")


def random_value():
    return "".join(random.choice(ALPHABET) for _ in range(random.randint(1, 300)))


class Secret:
    def __init__(self, ident):
        self.id = ident
        self.attempts = []  # [value, acknowledged]


class ApiKey:
    def __init__(self, ident, name, key):
        self.id = ident
        self.names = [[name, True]]
        self.keys = [[key, True]]  # a rotation without an answer: [None, False]


class Load:
    def __init__(self, client, bootstrap_key):
        self.client = client
        self.key = bootstrap_key
        self.stop = asyncio.Event()
        self.secrets = {}
        self.api_keys = {}
        self.acked_request_ids = set()
        self.acked = 0
        self.unanswered = 0
        self.refused = 0  # 503 while the database was settling: not acknowledged
        self.unexpected = []

    async def send(self, rid, method, path, body=None, ok=(200, 201)):
        try:
            resp = await self.client.request(method, path, key=self.key, body=body,
                                             headers={"X-Request-Id": rid}, timeout=20)
        except Exception:
            self.unanswered += 1
            await asyncio.sleep(0.03)
            return None
        if resp.status in ok:
            self.acked += 1
            self.acked_request_ids.add(rid)
            return resp
        if resp.status == 503:
            self.refused += 1
        else:
            self.unexpected.append(f"{method} {path} -> {resp.status} {resp.body[:120]!r}")
        await asyncio.sleep(0.03)
        return None

    async def writer(self, w):
        n = 0
        mine_secrets, mine_keys = [], []
        while not self.stop.is_set():
            n += 1
            rid = f"rel-kill-{w}-{n}"
            roll = random.random()
            if roll < 0.25 or not mine_secrets:
                secret = Secret(f"rel-kill-{w}-{n}")
                value = random_value()
                secret.attempts.append([value, False])
                self.secrets[secret.id] = secret
                mine_secrets.append(secret)
                if await self.send(rid, "PUT", f"/v1/secrets/{secret.id}",
                                   {"value": value, "description": f"writer {w}"}, ok=(201,)):
                    secret.attempts[-1][1] = True
            elif roll < 0.40:
                value = random_value()
                resp = await self.send(rid, "POST", "/v1/secrets", {"value": value})
                if resp:
                    secret = Secret(resp.json()["id"])
                    secret.attempts.append([value, True])
                    self.secrets[secret.id] = secret
                    mine_secrets.append(secret)
            elif roll < 0.55:
                secret = random.choice(mine_secrets)
                value = random_value()
                secret.attempts.append([value, False])
                if await self.send(rid, "PUT", f"/v1/secrets/{secret.id}", {"value": value},
                                   ok=(200, 201)):
                    secret.attempts[-1][1] = True
            elif roll < 0.72 or not mine_keys:
                name = f"kill {w}-{n}"
                resp = await self.send(rid, "POST", "/v1/api_keys",
                                       {"name": name, "api_key_role": "serving"}, ok=(201,))
                if resp:
                    body = resp.json()
                    key = ApiKey(body["id"], name, body["key"])
                    self.api_keys[key.id] = key
                    mine_keys.append(key)
            elif roll < 0.88:
                key = random.choice(mine_keys)
                name = f"kill {w}-{n} renamed"
                key.names.append([name, False])
                if await self.send(rid, "PATCH", f"/v1/api_keys/{key.id}", {"name": name},
                                   ok=(200,)):
                    key.names[-1][1] = True
            else:
                key = random.choice(mine_keys)
                key.keys.append([None, False])
                resp = await self.send(rid, "POST", f"/v1/api_keys/{key.id}/rotate", ok=(200,))
                if resp:
                    key.keys[-1] = [resp.json()["key"], True]


def allowed_after_last_ack(attempts):
    """The values a resource may hold: its last acknowledged one and any
    later unanswered one; `None` when nothing was acknowledged."""
    last = max((i for i, (_, acked) in enumerate(attempts) if acked), default=None)
    if last is None:
        return None, [v for v, _ in attempts]
    return attempts[last][0], [v for v, _ in attempts[last:]]


async def verify_secrets(client, key, secrets):
    exact = later = 0
    wrong = []

    async def one(secret):
        nonlocal exact, later
        expected, allowed = allowed_after_last_ack(secret.attempts)
        resp = await client.get(f"/v1/secrets/{secret.id}", key=key)
        if resp.status == 404 and expected is None:
            pass  # never acknowledged and not there: fine
        elif resp.status != 200:
            wrong.append(f"{secret.id}: {resp.status} (acknowledged: {expected is not None})")
        else:
            value = resp.json()["value"]
            if expected is not None and value == expected:
                exact += 1
            elif value not in allowed:
                wrong.append(f"{secret.id}: value differs from every write")
            elif expected is not None:
                later += 1
    await asyncio.gather(*(one(s) for s in secrets))
    return exact, later, wrong


async def verify_api_keys(client, key, api_keys):
    good = 0
    wrong = []

    async def one(k):
        nonlocal good
        problems = []
        resp = await client.get(f"/v1/api_keys/{k.id}", key=key)
        if resp.status != 200:
            wrong.append(f"{k.id}: GET {resp.status}")
            return
        view = resp.json()
        _, names = allowed_after_last_ack(k.names)
        if view["name"] not in names:
            problems.append(f"name {view['name']!r} not among {names}")
        if view["api_key_role"] != "serving":
            problems.append(f"role {view['api_key_role']}")
        last_acked = max(i for i, (_, a) in enumerate(k.keys) if a)
        settled = last_acked == len(k.keys) - 1
        newest = k.keys[last_acked][0]
        if settled and view["key_last4"] != newest[-4:]:
            problems.append("the view does not show the last acknowledged secret")
        for i, (secret, acked) in enumerate(k.keys):
            if not acked:
                continue
            v = (await client.post("/v1/verify", {"key": secret}, key=key)).json()
            want = "current" if (i == last_acked and settled) else None
            if not v["valid"] or (want and v["status"] != want) or (
                    i < last_acked and v["status"] != "pending"):
                problems.append(f"secret #{i}: {v['code']} {v['status']}")
        if problems:
            wrong.append(f"{k.id}: " + "; ".join(problems))
        else:
            good += 1
    await asyncio.gather(*(one(k) for k in api_keys))
    return good, wrong


def tamper(db, load):
    """Self-check of the part (`KEYGATE_RELIABILITY_KILL_TAMPER=1`): loses
    one acknowledged secret, renames one acknowledged key and drops one
    audit event behind keygate's back, so that three checks must fail."""
    secret = next(s for s in load.secrets.values() if s.attempts[-1][1])
    db.execute("DELETE FROM secrets WHERE id = %s", (secret.id,))
    key = next(iter(load.api_keys.values()))
    db.execute("UPDATE api_keys SET name = 'tampered' WHERE id = %s", (key.id,))
    rid = sorted(load.acked_request_ids)[0]
    db.execute("DELETE FROM audit_events WHERE request_id = %s", (rid,))
    print(f"   tampered: deleted secret {secret.id}, renamed {key.id}, dropped audit of {rid}")


async def main(backend, report):
    seconds = env_float("KEYGATE_RELIABILITY_KILL_SECONDS", 30)
    kills = env_int("KEYGATE_RELIABILITY_KILLS", 10)
    writers = env_int("KEYGATE_RELIABILITY_KILL_WRITERS", 8)
    db = Database(backend, "kill")
    server = Server(f"kill-{backend}", db.url)
    try:
        server.start()
        client = Client(server.port, max_conns=writers + 8)
        load = Load(client, server.bootstrap_key)
        # The first secret of a database also records the master key's id;
        # concurrent first seals race on that row (the race part checks it),
        # so one secret goes first and this part only tests durability.
        await client.put("/v1/secrets/rel-kill-first", {"value": "first"},
                         key=server.bootstrap_key)
        restarts = []

        async def killer():
            start = time.monotonic()
            for i in range(kills):
                slot = seconds / (kills + 1)
                target = start + (i + 1) * slot + random.uniform(-0.4, 0.4) * slot
                await asyncio.sleep(max(0.0, target - time.monotonic()))
                restarts.append(await asyncio.to_thread(server.restart_after_kill))
            await asyncio.sleep(max(0.0, start + seconds - time.monotonic()))
            load.stop.set()

        began = time.monotonic()
        await asyncio.gather(killer(), *(load.writer(w) for w in range(writers)))
        took = time.monotonic() - began
        # The last writes are checked after a crash too.
        await client.close()
        if os.environ.get("KEYGATE_RELIABILITY_KILL_TAMPER") == "1":
            await asyncio.to_thread(server.kill9)
            tamper(db, load)
            await asyncio.to_thread(server.start)
            restarts.append(0.0)
        else:
            restarts.append(await asyncio.to_thread(server.restart_after_kill))
        client = Client(server.port, max_conns=16)

        acked_secrets = [s for s in load.secrets.values() if any(a for _, a in s.attempts)]
        exact, later, wrong_secrets = await verify_secrets(
            client, server.bootstrap_key, list(load.secrets.values()))
        good_keys, wrong_keys = await verify_api_keys(
            client, server.bootstrap_key, list(load.api_keys.values()))
        stored = {row[0] for row in db.query(
            "SELECT request_id FROM audit_events WHERE request_id LIKE 'rel-kill-%' "
            "AND outcome = 'success'")}
        missing_audit = load.acked_request_ids - stored
        await client.close()

        report.note(f"{len(restarts)} SIGKILLs in {took:.0f} s, restart to ready p50 "
                    f"{percentile(restarts, 50):.2f} s, max {max(restarts):.2f} s; "
                    f"{load.acked} acknowledged writes, {load.unanswered} unanswered, "
                    f"{load.refused}×503")
        report.check(len(restarts) == kills + 1 and load.acked >= 50 and load.unanswered > 0,
                     f"load: {load.acked} acknowledged writes, {load.unanswered} cut off by "
                     f"{len(restarts)} SIGKILLs",
                     "too little load or no write in flight at a kill: the part proved nothing")
        report.check(not wrong_secrets,
                     f"{len(acked_secrets)} acknowledged secrets: {exact} exact, {later} hold a "
                     f"later unanswered write, {len(wrong_secrets)} wrong or missing",
                     "; ".join(wrong_secrets[:5]))
        report.check(not wrong_keys,
                     f"{len(load.api_keys)} acknowledged API keys: {good_keys} intact with every "
                     f"acknowledged secret verifying, {len(wrong_keys)} wrong",
                     "; ".join(wrong_keys[:5]))
        report.check(not missing_audit,
                     f"{len(load.acked_request_ids)} acknowledged writes have their audit event, "
                     f"{len(missing_audit)} do not", ", ".join(sorted(missing_audit)[:5]))
        report.check(not load.unexpected,
                     f"no 500 or other unexpected answer during the kills "
                     f"({len(load.unexpected)} seen)", "; ".join(load.unexpected[:5]))
    finally:
        server.stop()
        db.drop()
