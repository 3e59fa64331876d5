"""timeout-commit: a 504 never leaves its change behind, and a 2xx always
does (docs/OPERATIONS.md: a change that committed is reported as done).

Writes are sent with `Request-Timeout-Millis` spread so that some deadlines
fall before, some during and some after the write's own work, commit
included: uniformly from 1 to KEYGATE_RELIABILITY_TIMEOUT_MAX_MS
(default 30), half around each operation's latency measured first on this
machine (0.5 × p10 to 1.3 × p90). A quarter come from the first range,
three quarters from the second. Each request carries its own
`X-Request-Id`, so its audit event (written in the same transaction) marks
whether it committed.

- KEYGATE_RELIABILITY_TIMEOUT_N (default 3000) writes, PUT of a new secret
  and POST of a new API key alternately: every 504 left neither the
  resource nor its audit event; every 2xx left both.
- KEYGATE_RELIABILITY_TIMEOUT_ROTATIONS (default 1000) rotations with
  `grace_period_seconds: 0`, each of its own fresh key: a 504 left the old
  key current and working (`POST /v1/verify` `VALID`, its hash in
  `key_secrets`, the view unchanged); a 200 replaced it (old key
  `NOT_FOUND`, new key `VALID`). A 504 that committed is the owner locked
  out: the old key is gone and the new one was never delivered.
- Both outcomes must occur often enough (at least 5 % each), or the spread
  missed the latency and the part proved nothing.
"""

import asyncio
import random

from harness import (Client, Database, Server, env_int, expect, key_hash, percentile,
                     statuses)


def spread(latencies_ms, max_ms):
    lo = max(1, int(0.5 * percentile(latencies_ms, 10)))
    hi = max(lo + 1, int(1.3 * percentile(latencies_ms, 90)) + 1)

    def pick():
        if random.random() < 0.25:
            return random.randint(1, max_ms)
        return random.randint(lo, hi)
    return pick, (lo, hi)


async def calibrate(concurrency, make):
    sem = asyncio.Semaphore(concurrency)

    async def one(i):
        async with sem:
            resp = await make(i)
            return resp.elapsed * 1000
    return await asyncio.gather(*(one(i) for i in range(40)))


async def main(backend, report):
    n = env_int("KEYGATE_RELIABILITY_TIMEOUT_N", 3000)
    rotations = env_int("KEYGATE_RELIABILITY_TIMEOUT_ROTATIONS", 1000)
    concurrency = env_int("KEYGATE_RELIABILITY_TIMEOUT_CONCURRENCY", 8)
    max_ms = env_int("KEYGATE_RELIABILITY_TIMEOUT_MAX_MS", 30)
    db = Database(backend, "timeout")
    server = Server(f"timeout-{backend}", db.url)
    try:
        server.start()
        key = server.bootstrap_key
        client = Client(server.port, max_conns=concurrency + 4)
        sem = asyncio.Semaphore(concurrency)

        def put_secret(tag, i, headers=None):
            return client.put(f"/v1/secrets/to-{tag}-{i}", {"value": f"value {i}"}, key=key,
                              headers=headers)

        def create_key(tag, i, headers=None):
            return client.post("/v1/api_keys", {"name": f"to-{tag}-{i}",
                                                "api_key_role": "serving"}, key=key,
                               headers=headers)

        await expect(put_secret("first", 0), 201, "first secret")
        lat = {"secret": await calibrate(concurrency, lambda i: put_secret("cal", i)),
               "key": await calibrate(concurrency, lambda i: create_key("cal", i))}
        picks = {op: spread(ms, max_ms) for op, ms in lat.items()}

        # Writes -----------------------------------------------------------
        async def write(i):
            op = "secret" if i % 2 == 0 else "key"
            budget = picks[op][0]()
            rid = f"rel-to-{op}-{i}"
            headers = {"Request-Timeout-Millis": str(budget), "X-Request-Id": rid}
            async with sem:
                resp = await (put_secret("w", i, headers) if op == "secret"
                              else create_key("w", i, headers))
            return op, i, rid, budget, resp

        results = await asyncio.gather(*(write(i) for i in range(n)))
        await asyncio.sleep(0.5)  # anything still running in keygate finishes
        audited = {r[0] for r in db.query(
            "SELECT request_id FROM audit_events WHERE request_id LIKE 'rel-to-%'")}
        secrets_there = {r[0] for r in db.query(
            "SELECT id FROM secrets WHERE id LIKE 'to-w-%'")}
        keys_there = {r[0] for r in db.query(
            "SELECT name FROM api_keys WHERE name LIKE 'to-w-%'")}
        ok = timed_out = 0
        committed_504, lost_2xx, other = [], [], []
        for op, i, rid, budget, resp in results:
            there = (f"to-w-{i}" in secrets_there) if op == "secret" else (
                f"to-w-{i}" in keys_there)
            trail = rid in audited
            if resp.status in (200, 201):
                ok += 1
                if not (there and trail):
                    lost_2xx.append(f"{op} {i} ({budget} ms): resource {there}, audit {trail}")
            elif resp.status == 504:
                timed_out += 1
                if there or trail:
                    committed_504.append(f"{op} {i} ({budget} ms): resource {there}, "
                                         f"audit {trail}")
            else:
                other.append(resp)
        report.note(f"latency without a deadline: PUT secret p10 "
                    f"{percentile(lat['secret'], 10):.1f} / p90 "
                    f"{percentile(lat['secret'], 90):.1f} ms, create key "
                    f"p10 {percentile(lat['key'], 10):.1f} / p90 {percentile(lat['key'], 90):.1f}"
                    f" ms; deadlines 1-{max_ms} ms and {picks['secret'][1]} / {picks['key'][1]} ms")
        report.check(min(ok, timed_out) >= 0.05 * n,
                     f"{n} writes: {ok}×2xx, {timed_out}×504 (each at least 5 %)",
                     "the deadlines missed the latency: adjust KEYGATE_RELIABILITY_TIMEOUT_MAX_MS")
        report.check(not committed_504,
                     f"{timed_out} writes answered 504: {len(committed_504)} committed anyway",
                     "; ".join(committed_504[:4]))
        report.check(not lost_2xx, f"{ok} writes answered 2xx: {len(lost_2xx)} not stored",
                     "; ".join(lost_2xx[:4]))
        report.check(not other, f"no answer other than 2xx or 504 ({len(other)} seen)",
                     str(statuses(other)))

        # Rotations with a zero grace ----------------------------------------
        victims = []
        for start in range(0, rotations + 40, 50):
            batch = await asyncio.gather(*(expect(create_key("r", j), 201, "create key")
                                           for j in range(start, min(start + 50,
                                                                     rotations + 40))))
            victims += [b.json() for b in batch]
        zero = {"grace_period_seconds": 0}
        cal, victims = victims[:40], victims[40:]
        rot_lat = await calibrate(concurrency, lambda i: client.post(
            f"/v1/api_keys/{cal[i]['id']}/rotate", zero, key=key))
        pick, rot_range = spread(rot_lat, max_ms)

        async def rotate(v):
            budget = pick()
            async with sem:
                resp = await client.post(f"/v1/api_keys/{v['id']}/rotate", zero, key=key,
                                         headers={"Request-Timeout-Millis": str(budget)})
            return v, budget, resp

        outcomes = await asyncio.gather(*(rotate(v) for v in victims))
        await asyncio.sleep(0.5)
        states = dict(db.query("SELECT key_hash, state FROM key_secrets "
                               "WHERE owner_kind = 'api_key'"))
        rotated = kept = 0
        locked_out, wrong_200, other = [], [], []
        for v, budget, resp in outcomes:
            old = v["key"]
            old_there = states.get(key_hash(old))
            verdict = (await client.post("/v1/verify", {"key": old}, key=key)).json()
            if resp.status == 200:
                rotated += 1
                new = resp.json()["key"]
                new_verdict = (await client.post("/v1/verify", {"key": new}, key=key)).json()
                if old_there is not None or verdict["valid"] or not new_verdict["valid"]:
                    wrong_200.append(f"{v['id']}: old {verdict['code']}, new "
                                     f"{new_verdict['code']}")
            elif resp.status == 504:
                kept += 1
                view = (await client.get(f"/v1/api_keys/{v['id']}", key=key)).json()
                if old_there != "current" or not verdict["valid"] or \
                        view["key_last4"] != old[-4:]:
                    locked_out.append(f"{v['id']} ({budget} ms): old key {verdict['code']}, "
                                      f"in key_secrets: {old_there}")
            else:
                other.append(resp)
        report.note(f"rotate latency p10 {percentile(rot_lat, 10):.1f} / p90 "
                    f"{percentile(rot_lat, 90):.1f} ms; deadlines 1-{max_ms} ms and "
                    f"{rot_range} ms")
        report.check(min(rotated, kept) >= 0.05 * len(victims),
                     f"{len(victims)} rotations with grace 0: {rotated}×200, {kept}×504 "
                     f"(each at least 5 %)", "the deadlines missed the latency")
        report.check(not locked_out,
                     f"{kept} rotations answered 504: {len(locked_out)} committed and locked "
                     f"the owner out", "; ".join(locked_out[:4]))
        report.check(not wrong_200 and not other,
                     f"{rotated} rotations answered 200: {len(wrong_200)} left the old key "
                     f"working or the new one not; {len(other)} other answers",
                     "; ".join(wrong_200[:4]) + str(statuses(other) if other else ""))
        await client.close()
    finally:
        server.stop()
        db.drop()
