"""elasticsearch-py 9.5.1 drives keygate's Elasticsearch dialect.

Every call goes through a fresh `es.options(...)` copy, whose product check
is unverified, so each 2xx must carry `X-Elastic-Product: Elasticsearch`.
The connector API is the client's own methods; the connector-secret API,
which the client does not generate (it is private in Elastic's
specification), goes through `perform_request`, as an application would.
Errors must arrive as the client's own exception classes. The native `/v1`
API (plain urllib, not the vendor's client) sets up an organization of the
scenario's own and its keys, and shows that the
dialect's resources are keygate's own.

usage: scenario.py BASE_URL KEY  (a `personal` key of the first organization)
"""

import json
import sys
import uuid
import urllib.error
import urllib.request
import warnings

import elasticsearch
from elasticsearch import (
    AuthenticationException,
    AuthorizationException,
    BadRequestError,
    ConflictError,
    Elasticsearch,
    NotFoundError,
)
from elasticsearch.exceptions import ElasticsearchWarning, GeneralAvailabilityWarning

BASE, ADMIN_KEY = sys.argv[1], sys.argv[2]
assert elasticsearch.__versionstr__ == "9.5.1", elasticsearch.__versionstr__

# The connector API is beta: every call warns. Any other warning (a server
# `Warning` header) fails the scenario.
warnings.simplefilter("ignore", GeneralAvailabilityWarning)
warnings.simplefilter("error", ElasticsearchWarning)

STEPS = []


def step(name):
    STEPS.append(name)
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
    "POST", "/v1/organizations", ADMIN_KEY, {"name": f"es-scenario-{uuid.uuid4().hex[:12]}"}
)
assert status == 201, (status, org)
KEY = org["api_key"]["key"]


def client(key=KEY):
    return Elasticsearch(BASE, api_key=key)


ES = client()


def es():
    """A fresh, unverified copy: its product check runs on this call."""
    return ES.options(request_timeout=10)


JSON = {"accept": "application/json", "content-type": "application/json"}


def secret_request(method, path, body=None):
    return es().perform_request(method, path, headers=JSON, body=body)


def expect(exc_class, call, kind, status):
    try:
        call()
    except exc_class as e:
        assert e.meta.status == status, (e.meta.status, status)
        assert e.message == kind, (e.message, kind)
        assert e.body["error"]["root_cause"][0]["type"] == kind, e.body
        assert e.meta.headers.get("x-elastic-product") == "Elasticsearch"
        return e
    raise AssertionError(f"expected {exc_class.__name__} ({kind})")


# Start-up calls.
assert es().ping() is True
info = es().info()
assert info["version"]["number"].startswith("9."), info
assert info["tagline"] == "You Know, for Search"
step("ping() and info()")

# Connectors.
r = es().connector.put(
    connector_id="scenario-drive",
    name="Scenario Drive",
    index_name="search-scenario-drive",
    service_type="google_drive",
    is_native=False,
)
assert (r["result"], r["id"]) == ("created", "scenario-drive"), r
r = es().connector.put(
    connector_id="scenario-drive",
    name="Scenario Drive",
    description="Synced by the scenario",
    index_name="search-scenario-drive",
    service_type="google_drive",
)
assert r["result"] == "updated", r
step("connector.put with an id: created, then updated")

posted = es().connector.post(name="Scenario Jira", service_type="jira")
assert posted["result"] == "created" and posted["id"].startswith("con_"), posted
put_no_id = es().connector.put(name="Scenario Slack", service_type="slack")
assert put_no_id["result"] == "created" and put_no_id["id"].startswith("con_"), put_no_id
step("connector.post() and connector.put() without an id")

c = es().connector.get(connector_id="scenario-drive")
for field, value in {
    "id": "scenario-drive",
    "name": "Scenario Drive",
    "description": "Synced by the scenario",
    "index_name": "search-scenario-drive",
    "service_type": "google_drive",
    "is_native": False,
    "sync_now": False,
    "status": "created",
    "configuration": {},
    "custom_scheduling": {},
    "scheduling": {},
    "filtering": [],
}.items():
    assert c[field] == value, (field, c)
status, body = native("GET", "/v1/connectors/scenario-drive", KEY)
assert status == 200 and body["description"] == "Synced by the scenario", (status, body)
step("connector.get, and the same connector at /v1/connectors")

page = es().connector.list(from_=0, size=2)
assert page["count"] == 3 and len(page["results"]) == 2, page
rest = es().connector.list(from_=2, size=2)
assert rest["count"] == 3 and len(rest["results"]) == 1, rest
ids = {c["id"] for c in page["results"] + rest["results"]}
assert ids == {"scenario-drive", posted["id"], put_no_id["id"]}, ids
by_type = es().connector.list(service_type=["google_drive", "jira"])
assert by_type["count"] == 2, by_type
by_name = es().connector.list(connector_name=["Scenario Slack"])
assert [c["id"] for c in by_name["results"]] == [put_no_id["id"]], by_name
by_index = es().connector.list(index_name="search-scenario-drive")
assert by_index["count"] == 1, by_index
by_text = es().connector.list(query="SCENARIO D")
assert [c["id"] for c in by_text["results"]] == ["scenario-drive"], by_text
step("connector.list: from/size with count, and each filter")

# Connector secrets, through perform_request.
created = secret_request("POST", "/_connector/_secret", {"value": "encoded-api-key"})
secret_id = created["id"]
assert secret_id.startswith("sec_"), created
got = secret_request("GET", f"/_connector/_secret/{secret_id}")
assert dict(got) == {"id": secret_id, "value": "encoded-api-key"}, got
put = secret_request("PUT", f"/_connector/_secret/{secret_id}", {"value": "rotated-api-key"})
assert put["result"] == "updated", put
chosen = secret_request("PUT", "/_connector/_secret/scenario-chosen", {"value": "v"})
assert chosen["result"] == "created", chosen
status, body = native("GET", f"/v1/secrets/{secret_id}", KEY)
assert status == 200 and body["value"] == "rotated-api-key", (status, body)
step("secrets: create, get, put (updated and created), and /v1/secrets sees them")

# The seed operation.
status, key_body = native(
    "POST", "/v1/api_keys", KEY, {"name": "scenario connector key", "api_key_role": "serving_and_indexing"}
)
assert status == 201, (status, key_body)
indexing_key_id, indexing_key = key_body["id"], key_body["key"]
r = es().connector.update_api_key_id(connector_id="scenario-drive")
assert r["result"] == "noop", r
r = es().connector.update_api_key_id(
    connector_id="scenario-drive", api_key_id=indexing_key_id, api_key_secret_id=secret_id
)
assert r["result"] == "updated", r
r = es().connector.update_api_key_id(
    connector_id="scenario-drive", api_key_id=indexing_key_id, api_key_secret_id=secret_id
)
assert r["result"] == "noop", r
c = es().connector.get(connector_id="scenario-drive")
assert (c["api_key_id"], c["api_key_secret_id"]) == (indexing_key_id, secret_id), c
es().connector.put(connector_id="scenario-drive", name="Scenario Drive 2")
c = es().connector.get(connector_id="scenario-drive")
assert c["api_key_id"] == indexing_key_id and c["name"] == "Scenario Drive 2", c
step("connector.update_api_key_id: noop, updated, noop; put keeps the key")

# Errors, as the client's own exception classes.
e = expect(NotFoundError, lambda: es().connector.get(connector_id="nope"), "resource_not_found_exception", 404)
assert "nope" in str(e), str(e)
expect(NotFoundError, lambda: es().connector.delete(connector_id="nope"), "resource_not_found_exception", 404)
expect(NotFoundError, lambda: secret_request("GET", "/_connector/_secret/nope"), "resource_not_found_exception", 404)
expect(
    NotFoundError,
    lambda: es().connector.update_api_key_id(connector_id="nope", api_key_id=indexing_key_id),
    "resource_not_found_exception",
    404,
)
e = expect(
    BadRequestError,
    lambda: es().connector.update_api_key_id(connector_id="scenario-drive", api_key_id="VuaCfGcBCdbkQm-e5aOx"),
    "action_request_validation_exception",
    400,
)
assert "api_key_id" in str(e), str(e)
expect(
    BadRequestError,
    lambda: es().connector.put(connector_id="scenario-x", name=""),
    "action_request_validation_exception",
    400,
)
expect(BadRequestError, lambda: es().connector.list(size=5000), "action_request_validation_exception", 400)
expect(
    BadRequestError,
    lambda: es().connector.put(connector_id="Not A Keygate Id", name="x"),
    "illegal_argument_exception",
    400,
)
expect(
    BadRequestError,
    lambda: secret_request("POST", "/_connector/_secret", {"value": ""}),
    "action_request_validation_exception",
    400,
)
expect(
    AuthenticationException,
    lambda: client("kg_ak_notakey").options(request_timeout=10).connector.list(),
    "security_exception",
    401,
)
status, serving = native("POST", "/v1/api_keys", KEY, {"name": "scenario serving key", "api_key_role": "serving"})
assert status == 201, (status, serving)
serving_es = client(serving["key"])
assert serving_es.options(request_timeout=10).connector.list()["count"] == 3
expect(
    AuthorizationException,
    lambda: serving_es.options(request_timeout=10).connector.put(connector_id="scenario-y", name="y"),
    "security_exception",
    403,
)
e = expect(
    AuthorizationException,
    lambda: client(indexing_key)
    .options(request_timeout=10)
    .perform_request("GET", f"/_connector/_secret/{secret_id}", headers=JSON),
    "security_exception",
    403,
)
assert e.body["error"]["missing_permission"] == "get_secret", e.body
assert "rotated-api-key" not in str(e.body)
expect(
    ConflictError,
    lambda: secret_request("DELETE", f"/_connector/_secret/{secret_id}"),
    "version_conflict_engine_exception",
    409,
)
step("errors: NotFoundError, BadRequestError, AuthenticationException, AuthorizationException, ConflictError")

# Clean-up through the dialect.
for connector_id in ["scenario-drive", posted["id"], put_no_id["id"]]:
    r = es().connector.delete(connector_id=connector_id, delete_sync_jobs=True)
    assert r["acknowledged"] is True, r
assert es().connector.list()["count"] == 0
for sid in [secret_id, "scenario-chosen"]:
    r = secret_request("DELETE", f"/_connector/_secret/{sid}")
    assert r["deleted"] is True, r
expect(NotFoundError, lambda: secret_request("GET", f"/_connector/_secret/{secret_id}"), "resource_not_found_exception", 404)
status, _ = native("GET", f"/v1/secrets/{secret_id}", KEY)
assert status == 404, status
step("connector.delete and secret delete answer 200 with a body; gone natively too")

# The audit trail names the dialect operations.
status, events = native("GET", "/v1/audit_events?limit=100&resource_type=secret", KEY)
actions = {e["action"] for e in events["data"]}
assert {"es_create_secret", "es_get_secret", "es_put_secret", "es_delete_secret"} <= actions, actions
step("the audit trail names the dialect operations")

print(f"elasticsearch-py {elasticsearch.__versionstr__}: {len(STEPS)} steps passed")
