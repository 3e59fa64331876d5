"""outage (PostgreSQL only): a database outage is answered quickly and
cleanly, and service resumes as soon as the database is back (no request
waits on the database without bound; /readyz answers within
5 s even when the database does not answer).

keygate's DATABASE_URL points at a TCP proxy on loopback (pgproxy.py). For
each mode (`refuse`, then `drop`), the part cuts the database off (for
bound + 2 s and bound + 4 s: 8 s and 10 s by default, or
KEYGATE_RELIABILITY_OUTAGE_SECONDS each) while several probe loops keep sending
requests that need the database: `/readyz`, GET of an API key and of a
secret, creating a secret, verifying an unknown key, and GET /v1/me with a
key never used before (so authentication itself misses the cache); some
probes also send `Request-Timeout-Millis`. Then the database returns.

Checks, per mode:
- every probe started during the outage answered within the bound
  (KEYGATE_RELIABILITY_OUTAGE_BOUND_MS, default 6000; /readyz within
  KEYGATE_RELIABILITY_READYZ_BOUND_MS, default 2500; a probe with a
  deadline within that deadline + 1 s);
- every answer given during the outage was 503 with `Retry-After` (a probe
  with a deadline may also get 504 `request_timeout`), and every /readyz
  started early enough said 503 within its bound;
- no answer at all was a 500 (during, after, or while resuming);
- after the database returned, /readyz, a GET and a create all succeeded
  within KEYGATE_RELIABILITY_RESUME_BOUND_MS (default 1000).
"""

import asyncio
import os
import time
from urllib.parse import urlparse

from harness import (Client, Database, Response, Server, SetupError, env_float, env_int,
                     expect, make_key, percentile)
from pgproxy import Proxy


class Probes:
    def __init__(self, client, key, api_key_id, secret_id, fresh_keys, deadline_ms):
        self.client = client
        self.key = key
        self.api_key_id = api_key_id
        self.secret_id = secret_id
        self.fresh_keys = fresh_keys
        self.deadline_ms = deadline_ms

    def kinds(self):
        return ["readyz", "get_api_key", "get_secret", "create_secret", "verify_unknown",
                "me_fresh_key", "get_api_key+deadline", "create_secret+deadline"]

    def send(self, kind, timeout):
        c, key = self.client, self.key
        headers = {}
        if kind.endswith("+deadline"):
            headers["Request-Timeout-Millis"] = str(self.deadline_ms)
        base = kind.split("+")[0]
        if base == "readyz":
            return c.get("/readyz", timeout=timeout)
        if base == "get_api_key":
            return c.get(f"/v1/api_keys/{self.api_key_id}", key=key, headers=headers,
                         timeout=timeout)
        if base == "get_secret":
            return c.get(f"/v1/secrets/{self.secret_id}", key=key, timeout=timeout)
        if base == "create_secret":
            return c.post("/v1/secrets", {"value": "outage probe"}, key=key, headers=headers,
                          timeout=timeout)
        if base == "verify_unknown":
            return c.post("/v1/verify", {"key": make_key("ak")}, key=key, timeout=timeout)
        if base == "me_fresh_key":
            fresh = self.fresh_keys.pop() if self.fresh_keys else make_key("ak")
            return c.get("/v1/me", key=fresh, timeout=timeout)
        raise ValueError(kind)


class Probe:
    __slots__ = ("kind", "start", "elapsed", "status", "retry_after", "code", "error")

    def __init__(self, kind, start):
        self.kind, self.start = kind, start
        self.elapsed = self.status = self.retry_after = self.code = self.error = None

    @property
    def end(self):
        return self.start + self.elapsed


async def baseline(probes, what):
    for kind in probes.kinds():
        resp = await probes.send(kind, 15)
        if not 200 <= resp.status < 300:
            raise SetupError(f"{what}: {kind} answered {resp.status} {resp.body[:200]!r}")


async def run_mode(mode, proxy, probes, client, key, report, cfg):
    bound, readyz_bound, resume_bound, outage_s, loops = cfg
    deadline_bound = min(bound, probes.deadline_ms / 1000 + 1.0)
    records = []
    probe_timeout = outage_s + bound + 15

    def bound_of(kind):
        if kind == "readyz":
            return readyz_bound
        return deadline_bound if kind.endswith("+deadline") else bound

    await asyncio.to_thread(proxy.set_mode, mode)
    t0 = time.monotonic()
    t_back = t0 + outage_s

    async def loop(i):
        kinds = probes.kinds()
        n = i
        while time.monotonic() < t_back:
            kind = kinds[n % len(kinds)]
            n += 1
            rec = Probe(kind, time.monotonic() - t0)
            records.append(rec)
            try:
                resp = await probes.send(kind, probe_timeout)
                rec.status = resp.status
                rec.retry_after = resp.header("retry-after")
                rec.code = resp.code()
            except Exception as err:  # noqa: BLE001 - recorded and judged below
                rec.error = type(err).__name__
            rec.elapsed = time.monotonic() - t0 - rec.start
            if rec.status is not None and rec.status >= 500:
                await asyncio.sleep(0.05)

    async def heal():
        await asyncio.sleep(max(0.0, t_back - time.monotonic()))
        await asyncio.to_thread(proxy.set_mode, "pass")
        healed = time.monotonic()
        seen = []
        while time.monotonic() - healed < 30:
            round_ = await asyncio.gather(
                client.get("/readyz", timeout=30),
                client.get(f"/v1/api_keys/{probes.api_key_id}", key=key, timeout=30),
                client.post("/v1/secrets", {"value": "resume probe"}, key=key, timeout=30),
                return_exceptions=True)
            seen.extend(r for r in round_ if isinstance(r, Response))
            if all(isinstance(r, Response) and 200 <= r.status < 300 for r in round_):
                return time.monotonic() - healed, seen
            await asyncio.sleep(0.02)
        return None, seen

    results = await asyncio.gather(heal(), *(loop(i) for i in range(loops)))
    resumed, resume_answers = results[0]

    during = [r for r in records if r.start < outage_s]
    slow = [r for r in during if r.elapsed > bound_of(r.kind)]
    answered_in_outage = [r for r in during if r.end < outage_s and r.error is None]
    bad = []
    for r in answered_in_outage:
        ok_codes = (503, 504) if r.kind.endswith("+deadline") else (503,)
        if r.status not in ok_codes or (r.status == 503 and not r.retry_after):
            bad.append(f"{r.kind} {r.status} {r.code} retry-after={r.retry_after}")
    errors = [f"{r.kind}: {r.error} after {r.elapsed:.1f} s" for r in records if r.error]
    # A /readyz started at least its bound before the database returned
    # must have said 503 within that bound.
    readyz = [r for r in during if r.kind == "readyz" and r.start <= outage_s - readyz_bound]
    readyz_503 = [r for r in readyz if r.status == 503 and r.elapsed <= readyz_bound]
    five_hundreds = [r for r in records if r.status == 500] + [
        r for r in resume_answers if r.status == 500]
    by_status = {}
    for r in answered_in_outage:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    elapsed = [r.elapsed for r in during]
    tag = f"{mode}"
    report.note(f"{tag}: {len(during)} probes in a {outage_s:.0f} s outage, answered within "
                f"p50 {percentile(elapsed, 50):.2f} s, max {max(elapsed, default=0):.2f} s; "
                f"answers during the outage {by_status or 'none'}")
    report.check(not slow and not errors,
                 f"{tag}: {len(during) - len(slow)}/{len(during)} probes answered within the "
                 f"bound ({bound:.1f} s, /readyz {readyz_bound:.1f} s, with a deadline "
                 f"{deadline_bound:.1f} s); slowest {max(elapsed, default=0):.1f} s",
                 "; ".join([f"{r.kind} took {r.elapsed:.1f} s" for r in
                            sorted(slow, key=lambda r: -r.elapsed)[:4]] + errors[:3]))
    report.check(answered_in_outage and not bad,
                 f"{tag}: {len(answered_in_outage)} answers during the outage, all 503 with "
                 f"Retry-After (504 allowed with a deadline)",
                 "nothing answered while the database was away" if not answered_in_outage
                 else "; ".join(bad[:5]))
    report.check(readyz and len(readyz_503) == len(readyz),
                 f"{tag}: /readyz said 503 within {readyz_bound:.1f} s to "
                 f"{len(readyz_503)} of the {len(readyz)} probes that had the time",
                 "; ".join(f"took {r.elapsed:.1f} s, {r.status or r.error}"
                           for r in readyz if r not in readyz_503)[:300])
    report.check(not five_hundreds, f"{tag}: no 500 ({len(five_hundreds)} seen)",
                 "; ".join(f"{r.kind}" if isinstance(r, Probe) else repr(r)
                           for r in five_hundreds[:5]))
    report.check(resumed is not None and resumed <= resume_bound,
                 f"{tag}: service resumed {resumed:.2f} s after the database returned "
                 f"(bound {resume_bound:.1f} s)" if resumed is not None else
                 f"{tag}: service did not resume within 30 s")


async def main(backend, report):
    if backend != "postgres":
        report.note("PostgreSQL only")
        return
    bound = env_float("KEYGATE_RELIABILITY_OUTAGE_BOUND_MS", 6000) / 1000
    readyz_bound = env_float("KEYGATE_RELIABILITY_READYZ_BOUND_MS", 2500) / 1000
    resume_bound = env_float("KEYGATE_RELIABILITY_RESUME_BOUND_MS", 1000) / 1000
    # The outages differ in length on purpose: a reconnect backoff makes the
    # time to resume depend on where in its schedule the database returns.
    lengths = {"refuse": bound + 2, "drop": bound + 4}
    fixed = env_float("KEYGATE_RELIABILITY_OUTAGE_SECONDS", 0)
    loops = env_int("KEYGATE_RELIABILITY_OUTAGE_PROBES", 8)
    deadline_ms = env_int("KEYGATE_RELIABILITY_OUTAGE_DEADLINE_MS", 2000)
    modes = os.environ.get("KEYGATE_RELIABILITY_OUTAGE_MODES", "refuse drop").split()
    db = Database("postgres", "outage")
    target = urlparse(db.url)
    proxy = Proxy(target.hostname or "127.0.0.1", target.port or 5432)
    server = None
    try:
        port = proxy.start()
        server = Server("outage-postgres", db.url_via("127.0.0.1", port))
        server.start()
        key = server.bootstrap_key
        client = Client(server.port, max_conns=loops + 8)
        api_key = (await expect(client.post("/v1/api_keys", {"name": "outage", "api_key_role":
                                                              "serving"}, key=key),
                                201, "create api key")).json()
        secret = (await expect(client.post("/v1/secrets", {"value": "outage"}, key=key),
                               201, "create secret")).json()
        fresh = []
        for i in range(loops * 40):
            made = await expect(client.post("/v1/api_keys", {"name": f"fresh {i}",
                                                             "api_key_role": "serving"},
                                            key=key), 201, "create key")
            fresh.append(made.json()["key"])
        probes = Probes(client, key, api_key["id"], secret["id"], fresh, deadline_ms)
        for mode in modes:
            cfg = (bound, readyz_bound, resume_bound, fixed or lengths.get(mode, bound + 4), loops)
            await baseline(probes, f"before {mode}")
            await run_mode(mode, proxy, probes, client, key, report, cfg)
            await asyncio.sleep(1.5)  # the auth cache (1 s) forgets, like a fresh start
        await baseline(probes, "after the outages")
        await client.close()
    finally:
        if server:
            server.stop()
        proxy.stop()
        db.drop()
