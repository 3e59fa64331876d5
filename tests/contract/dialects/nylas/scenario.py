"""The nylas Python SDK 6.18.0 drives keygate's Nylas dialect.

Every answer must be JSON with `request_id` (the SDK decodes a body on
every status, and a 204 raises `JSONDecodeError`), times must be unix
integers, and every error must be `{request_id, error: {type, message}}`
or the SDK reports `type="unknown"`. The scenario creates, lists with
offset paging, finds, updates (name and data) and destroys a credential of
each type, and catches each error as `NylasApiError` with its real `type`.
The native `/v1` API (plain urllib, not the vendor's SDK) sets up an
organization of the scenario's own and shows that the dialect's
credentials are keygate's own.

usage: scenario.py BASE_URL KEY  (a `personal` key of the first organization)
"""

import json
import sys
import urllib.error
import urllib.request
import uuid
from importlib.metadata import version

from nylas import Client
from nylas.models.errors import NylasApiError

BASE, ADMIN_KEY = sys.argv[1], sys.argv[2]
assert version("nylas") == "6.18.0", version("nylas")


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


# The suite's earlier parts leave resources in the first organization: the
# scenario works in an organization of its own, with its first key.
status, org = native(
    "POST", "/v1/organizations", ADMIN_KEY, {"name": f"nylas-scenario-{uuid.uuid4().hex[:12]}"}
)
assert status == 201, (status, org)
KEY = org["api_key"]["key"]

nylas = Client(api_key=KEY, api_uri=BASE, timeout=10)
creds = nylas.connectors.credentials


def expect(call, kind, status):
    try:
        call()
    except NylasApiError as e:
        assert (e.status_code, e.type) == (status, kind), (e.status_code, e.type, str(e))
        assert e.request_id, "the error carries the request id"
        return e
    raise AssertionError(f"expected NylasApiError {kind}")


# One credential of each type, on the providers each belongs to.
BODIES = {
    ("google", "serviceaccount"): {
        "name": "Scenario service account",
        "credential_type": "serviceaccount",
        "credential_data": {
            "private_key_id": "key-id-1",
            "private_key": "-----BEGIN PRIVATE KEY-----\nMIIscenario\n-----END PRIVATE KEY-----\n",
            "client_email": "sync@scenario.iam.gserviceaccount.com",
        },
    },
    ("microsoft", "adminconsent"): {
        "name": "Scenario admin consent",
        "credential_type": "adminconsent",
        "credential_data": {"client_id": "ms-client", "client_secret": "ms-secret-1"},
    },
    ("google", "connector"): {
        "name": "Scenario auth app #2",
        "credential_type": "connector",
        "credential_data": {"client_id": "g-client", "client_secret": "g-secret-1"},
    },
}
made = {}
for (provider, kind), body in BODIES.items():
    r = creds.create(provider=provider, request_body=body)
    assert r.request_id, r
    assert r.data.id.startswith("crd_") and r.data.name == body["name"], r.data
    assert r.data.credential_type == kind, r.data
    assert isinstance(r.data.created_at, int) and isinstance(r.data.updated_at, int), r.data
    made[(provider, kind)] = r.data.id
    again = creds.create(provider=provider, request_body=body)
    assert again.data.id == r.data.id, "the same parameters again are the same credential"
step("create: one credential of each type; the same parameters again return it")

status, native_view = native(
    "GET", f"/v1/providers/google/credentials/{made[('google', 'connector')]}", KEY
)
assert status == 200 and native_view["name"] == "Scenario auth app #2", (status, native_view)
assert native_view["credential_data_keys"] == ["client_id", "client_secret"], native_view
step("the credential is keygate's own at /v1/providers/google/credentials")

# Offset paging over a few more of google's.
for n in range(4):
    creds.create(
        provider="google",
        request_body={
            "name": f"Scenario page {n}",
            "credential_type": "connector",
            "credential_data": {"client_id": f"c{n}", "client_secret": f"s{n}"},
        },
    )
seen = []
offset = 0
while True:
    page = creds.list(
        provider="google",
        query_params={"limit": 2, "offset": offset, "sort_by": "created_at", "order_by": "asc"},
    )
    assert page.request_id, page
    seen += [c.id for c in page.data]
    if len(page.data) < 2:
        break
    offset += 2
assert len(seen) == 6 and len(set(seen)) == 6, seen
assert seen[0] == made[("google", "serviceaccount")], seen
newest = creds.list(provider="google", query_params={"limit": 1, "order_by": "desc"})
assert [c.id for c in newest.data] == [seen[-1]], newest.data
everything = creds.list(provider="google", query_params={"limit": 200})
assert len(everything.data) == 6, everything.data
step("list: limit/offset pages in created_at order, order_by desc, limit 200")

for (provider, _), credential_id in made.items():
    found = creds.find(provider=provider, credential_id=credential_id)
    assert found.data.id == credential_id, found.data
step("find: each credential")

sa = made[("google", "serviceaccount")]
r = creds.update(provider="google", credential_id=sa, request_body={"name": "Scenario SA renamed"})
assert r.data.name == "Scenario SA renamed", r.data
r = creds.update(
    provider="google",
    credential_id=sa,
    request_body={
        "credential_data": {
            "private_key_id": "key-id-2",
            "private_key": "-----BEGIN PRIVATE KEY-----\nMIIrotated\n-----END PRIVATE KEY-----\n",
            "client_email": "sync@scenario.iam.gserviceaccount.com",
        }
    },
)
assert r.data.updated_at >= r.data.created_at, r.data
ms = made[("microsoft", "adminconsent")]
r = creds.update(
    provider="microsoft",
    credential_id=ms,
    request_body={"name": "Scenario consent renamed", "credential_data": {"client_id": "ms-2", "client_secret": "ms-secret-2"}},
)
assert r.data.name == "Scenario consent renamed", r.data
step("update: name, data (replaced wholesale), and both")

# Errors, each as NylasApiError with keygate's code as its type.
expect(lambda: creds.find(provider="google", credential_id="crd_00000000000000000000000000000000"), "not_found", 404)
expect(lambda: creds.find(provider="google", credential_id="no-such-id"), "not_found", 404)
expect(lambda: creds.find(provider="microsoft", credential_id=sa), "not_found", 404)
e = expect(
    lambda: creds.update(provider="google", credential_id=sa, request_body={"credential_data": {"client_id": "x"}}),
    "validation_failed",
    400,
)
assert "credential_data" in str(e), str(e)
expect(
    lambda: creds.create(
        provider="microsoft",
        request_body={"name": "wrong type", "credential_type": "serviceaccount", "credential_data": {}},
    ),
    "validation_failed",
    400,
)
expect(
    lambda: creds.create(provider="google", request_body={**BODIES[("google", "connector")], "credential_data": {"client_id": "g-client", "client_secret": "different"}}),
    "already_exists",
    409,
)
expect(lambda: creds.list(provider="nylas"), "invalid_path_parameter", 400)
expect(lambda: Client(api_key="kg_ak_not_a_real_key", api_uri=BASE).connectors.credentials.list(provider="google"), "unauthorized", 401)
status, _ = native("PATCH", "/v1/providers/google", KEY, {"active_credential_id": sa})
assert status == 200, status
expect(lambda: creds.destroy(provider="google", credential_id=sa), "still_referenced", 409)
status, _ = native("PATCH", "/v1/providers/google", KEY, {"active_credential_id": None})
assert status == 200, status
step("errors: 404 (unknown, malformed, other provider), 400, 409 (taken name, active credential), 401")

for (provider, _), credential_id in made.items():
    r = creds.destroy(provider=provider, credential_id=credential_id)
    assert r.request_id, r
    expect(lambda: creds.find(provider=provider, credential_id=credential_id), "not_found", 404)
    status, _ = native("GET", f"/v1/providers/{provider}/credentials/{credential_id}", KEY)
    assert status == 404, status
step("destroy: 200 with request_id; then 404 here and natively")
print("nylas scenario passed")
