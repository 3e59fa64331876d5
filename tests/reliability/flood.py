"""flood: nobody can fill the disk through the audit log.

KEYGATE_RELIABILITY_FLOOD_N (default 2000) refused mutations without a
usable key are sent at once (KEYGATE_RELIABILITY_FLOOD_CONCURRENCY, default
32): no credentials, a malformed key, a key with a wrong checksum, a
well-formed key keygate never issued (in `Authorization: Bearer`, `ApiKey`
and `x-api-key`), and a cluster key, against several mutations
(`POST /v1/secrets` with `{}`, `POST /v1/api_keys`, PUT, PATCH, DELETE,
rotate). Checks:

- every one is answered 401 with `WWW-Authenticate`;
- the audit table grows by at most KEYGATE_RELIABILITY_FLOOD_MAX_ROWS
  (default 10) rows, however large N is: unauthenticated refusals are to be
  counted in logs or metrics, not stored (the slack leaves room for a
  summary event, never one per request);
- a refusal of an authenticated caller is still recorded: each of
  KEYGATE_RELIABILITY_FLOOD_AUTHENTICATED (default 5) `POST /v1/api_keys`
  of a `serving` key is answered 403 and leaves one `denied` event naming
  the key and its organization, in the table and in `GET /v1/audit_events`;
- a successful write is still audited.

The rate of legitimate writes alone and during the flood is printed, not
judged (both share this machine's cores).
"""

import asyncio
import time
import uuid

from harness import Client, Database, Server, env_float, env_int, expect, make_key, statuses


def credential_variants():
    unknown = make_key("ak")
    wrong_sum = unknown[:-1] + ("A" if unknown[-1] != "A" else "B")
    return [
        {},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": f"Bearer {wrong_sum}"},
        {"Authorization": f"Bearer {make_key('ak')}"},
        {"Authorization": f"ApiKey {make_key('ak')}"},
        {"x-api-key": make_key("ak")},
        {"Authorization": f"Bearer {make_key('ck')}"},
    ]


def mutations():
    hexid = uuid.uuid4().hex
    return [
        ("POST", "/v1/secrets", {}),
        ("POST", "/v1/api_keys", {}),
        ("PUT", f"/v1/secrets/flood-{hexid[:8]}", {"value": "x"}),
        ("DELETE", f"/v1/api_keys/aky_{hexid}", None),
        ("PATCH", f"/v1/clusters/{hexid}", {}),
        ("POST", f"/v1/api_keys/aky_{hexid}/rotate", None),
    ]


async def legit_rate(client, key, seconds, tag, writers=4):
    done = 0
    stop = time.monotonic() + seconds

    async def writer(w):
        nonlocal done
        i = 0
        while time.monotonic() < stop:
            i += 1
            resp = await client.put(f"/v1/secrets/legit-{tag}-{w}-{i}", {"value": "v"}, key=key,
                                    headers={"X-Request-Id": f"rel-flood-legit-{tag}-{w}-{i}"})
            done += resp.status == 201
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return done / seconds


def audit_rows(db):
    return int(db.scalar("SELECT count(*) FROM audit_events WHERE request_id NOT LIKE "
                         "'rel-flood-legit-%'"))


async def main(backend, report):
    n = env_int("KEYGATE_RELIABILITY_FLOOD_N", 2000)
    concurrency = env_int("KEYGATE_RELIABILITY_FLOOD_CONCURRENCY", 32)
    max_rows = env_int("KEYGATE_RELIABILITY_FLOOD_MAX_ROWS", 10)
    authenticated = env_int("KEYGATE_RELIABILITY_FLOOD_AUTHENTICATED", 5)
    legit_seconds = env_float("KEYGATE_RELIABILITY_FLOOD_LEGIT_SECONDS", 2)
    db = Database(backend, "flood")
    server = Server(f"flood-{backend}", db.url)
    try:
        server.start()
        key = server.bootstrap_key
        client = Client(server.port, max_conns=concurrency + 8)
        await client.put("/v1/secrets/flood-first", {"value": "first"}, key=key)
        alone = await legit_rate(client, key, legit_seconds, "alone")

        rows_before = audit_rows(db)
        size_before = db.audit_bytes()
        answers = []
        sem = asyncio.Semaphore(concurrency)

        async def one(i):
            creds = credential_variants()[i % 7]
            method, path, body = mutations()[(i // 7) % 6]
            async with sem:
                return await client.request(method, path, body=body, headers=creds)

        began = time.monotonic()
        flood = asyncio.ensure_future(asyncio.gather(*(one(i) for i in range(n)),
                                                     return_exceptions=True))
        during = await legit_rate(client, key, legit_seconds, "during")
        answers = await flood
        took = time.monotonic() - began
        rows_after = audit_rows(db)
        size_after = db.audit_bytes()
        grown = rows_after - rows_before
        refused = sum(1 for r in answers if getattr(r, "status", None) == 401 and
                      r.header("www-authenticate"))
        report.note(f"{n} refused mutations in {took:.1f} s; legitimate writes {alone:.0f}/s "
                    f"alone, {during:.0f}/s during the flood; "
                    f"audit table {size_before / 1e6:.2f} -> {size_after / 1e6:.2f} MB")
        report.check(refused == n, f"{n} unauthenticated mutations: {refused}×401 with "
                     f"WWW-Authenticate", str(statuses(answers)))
        report.check(grown <= max_rows,
                     f"audit table grew by {grown} rows for {n} unauthenticated refusals "
                     f"(bound {max_rows}; the table +{(size_after - size_before) / 1e6:.2f} MB, "
                     f"the legitimate writes' events included)")

        serving = (await expect(client.post("/v1/api_keys", {"name": "flood serving",
                                                             "api_key_role": "serving"},
                                            key=key), 201, "create serving key")).json()
        org = serving["organization_id"]
        refusals = await asyncio.gather(*(client.post(
            "/v1/api_keys", {"name": "wider", "api_key_role": "serving"}, key=serving["key"],
            headers={"X-Request-Id": f"rel-flood-denied-{i}"}) for i in range(authenticated)))
        stored = db.query("SELECT request_id, organization_id, action FROM audit_events WHERE "
                          "actor_key_id = %s AND outcome = 'denied'", (serving["id"],))
        listed = (await client.get(f"/v1/audit_events?actor_key_id={serving['id']}"
                                   f"&outcome=denied&limit=100", key=key)).json()["data"]
        want = {f"rel-flood-denied-{i}" for i in range(authenticated)}
        report.check(all(r.status == 403 for r in refusals) and
                     {r[0] for r in stored} == want and len(stored) == authenticated and
                     all(r[1] == org and r[2] == "create_api_key" for r in stored) and
                     {e["request_id"] for e in listed} == want and
                     all(e["organization_id"] == org for e in listed),
                     f"{authenticated} refusals of an authenticated serving key: "
                     f"{statuses(refusals)}, {len(stored)} denied events with its organization "
                     f"stored, {len(listed)} listed")
        done = await client.put("/v1/secrets/flood-after", {"value": "v"}, key=key,
                                headers={"X-Request-Id": "rel-flood-success"})
        audited = db.scalar("SELECT count(*) FROM audit_events WHERE request_id = %s AND "
                            "outcome = 'success'", ("rel-flood-success",))
        report.check(done.status == 201 and audited == "1",
                     f"a successful write is audited ({done.status}, {audited} event)")
        await client.close()
    finally:
        server.stop()
        db.drop()
