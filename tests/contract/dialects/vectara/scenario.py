"""The vectara Python SDK 0.4.3 drives keygate's Vectara dialect.

The client has no `base_url`: it is pointed at keygate with
`VectaraEnvironment`, and `client_id=None, client_secret=None` keep it from
an OAuth call whatever the environment holds. Every request carries
`Request-Timeout-Millis`. The scenario creates keys (with `corpus_keys`),
pages through them with the SDK's own pager over several pages, gets,
disables, enables and deletes, and catches each error as the SDK's own
class: `BadRequestError`, `ForbiddenError` (whose body must parse as
Vectara's `Error`), and `ApiError` with `status_code` 404. The native `/v1`
API (plain urllib, not the vendor's SDK) sets up an organization of the
scenario's own and shows that the dialect's keys are keygate's own.

usage: scenario.py BASE_URL KEY  (a `personal` key of the first organization)
"""

import json
import sys
import urllib.error
import urllib.request
import uuid
from importlib.metadata import version

from vectara import BadRequestError, ForbiddenError, Vectara
from vectara.core.api_error import ApiError
from vectara.environment import VectaraEnvironment

BASE, ADMIN_KEY = sys.argv[1], sys.argv[2]
assert version("vectara") == "0.4.3", version("vectara")


def step(name):
    print(f"ok   {name}", flush=True)


def native(method, path, key, body=None):
    """A call to keygate's native API (setup and cross-checks only)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


# The suite's earlier parts leave keys in the first organization: the
# scenario works in an organization of its own, with its first key.
status, org = native(
    "POST", "/v1/organizations", ADMIN_KEY, {"name": f"vectara-scenario-{uuid.uuid4().hex[:12]}"}
)
assert status == 201, (status, org)
KEY = org["api_key"]["key"]
ENV = VectaraEnvironment(default=BASE, auth=BASE)


def client(key=KEY):
    return Vectara(
        api_key=key,
        client_id=None,
        client_secret=None,
        environment=ENV,
        request_timeout_millis=5000,
        timeout=10,
    )


vectara = client()


def expect(cls, call, status):
    try:
        call()
    except cls as e:
        assert e.status_code == status, (e.status_code, e.body)
        return e
    raise AssertionError(f"expected {cls.__name__} {status}")


# Create: the secret once, corpus_keys kept as scopes.
docs = vectara.api_keys.create(name="docs search", api_key_role="serving", corpus_keys=["docs", "faq"])
assert docs.id.startswith("aky_") and docs.secret_key.startswith("kg_ak_"), docs
assert docs.enabled is True and docs.api_key_role == "serving", docs
indexer = vectara.api_keys.create(name="docs indexer", api_key_role="serving_and_indexing", corpus_keys=["docs"])
made = [docs.id, indexer.id]
for n in range(5):
    made.append(vectara.api_keys.create(name=f"page key {n}", api_key_role="serving").id)
status, body = native("POST", "/v1/verify", KEY, {"key": docs.secret_key})
assert status == 200 and body["valid"] and body["resource_scopes"] == ["docs", "faq"], body
status, body = native("GET", f"/v1/api_keys/{docs.id}", KEY)
assert status == 200 and body["name"] == "docs search", body
step("create: secret_key once, corpus_keys as resource scopes seen by /v1/verify")

# The pager, two keys a page, across four pages (the organization's first
# key and the seven made here).
pager = vectara.api_keys.list(limit=2)
ids = [k.id for k in pager]
assert len(ids) == 8 and len(set(ids)) == 8, ids
assert set(made) <= set(ids), ids
pages = list(vectara.api_keys.list(limit=3).iter_pages())
assert [len(p.items) for p in pages] == [3, 3, 2], [len(p.items) for p in pages]
scoped = [k.id for k in vectara.api_keys.list(corpus_key="docs")]
assert sorted(scoped) == sorted([docs.id, indexer.id]), scoped
indexing = [k.id for k in vectara.api_keys.list(api_key_role="serving_and_indexing")]
assert indexing == [indexer.id], indexing
step("list: the SDK's pager over several pages; corpus_key and api_key_role filters")

got = vectara.api_keys.get(docs.id)
assert got.id == docs.id and got.secret_key is None, got
off = vectara.api_keys.update(docs.id, enabled=False)
assert off.enabled is False, off
status, _ = native("GET", "/v1/me", docs.secret_key)
assert status == 401, status
on = vectara.api_keys.update(docs.id, enabled=True)
assert on.enabled is True, on
status, _ = native("GET", "/v1/me", docs.secret_key)
assert status == 200, status
step("get (no secret_key), update enabled false then true, and the key stops and works again")

# Errors as the SDK's own classes (no retries needed for 4xx but 409).
e = expect(BadRequestError, lambda: vectara.api_keys.create(name="p", api_key_role="personal", corpus_keys=["docs"]), 400)
assert any("corpus_keys" in m for m in e.body["messages"]), e.body
expect(BadRequestError, lambda: vectara.api_keys.create(name="", api_key_role="serving"), 400)
expect(BadRequestError, lambda: vectara.api_keys.list(limit=101), 400)
serving = client(docs.secret_key)
e = expect(ForbiddenError, lambda: serving.api_keys.list(), 403)
assert e.body.messages and e.body.request_id, e.body
expect(ForbiddenError, lambda: serving.api_keys.get(docs.id), 403)
missing = "aky_00000000000000000000000000000000"
e = expect(ApiError, lambda: vectara.api_keys.get(missing), 404)
assert e.body["code"] == "not_found", e.body
expect(ApiError, lambda: vectara.api_keys.update(missing, enabled=False), 404)
expect(ApiError, lambda: vectara.api_keys.delete(missing), 404)
expect(ApiError, lambda: client("kg_ak_not_a_real_key").api_keys.list(), 401)
step("errors: BadRequestError, ForbiddenError with Vectara's Error body, ApiError 404 and 401")

for key_id in made:
    assert vectara.api_keys.delete(key_id) is None
expect(ApiError, lambda: vectara.api_keys.get(docs.id), 404)
status, _ = native("GET", f"/v1/api_keys/{docs.id}", KEY)
assert status == 404, status
assert [k.id for k in vectara.api_keys.list()] == [org["api_key"]["id"]]
step("delete: 204; then 404 here and natively")
print("vectara scenario passed")
