"""Elastic's Cloud Connect callers drive keygate's Cloud Connect dialect.

The AutoOps agent (elastic/beats x-pack/metricbeat/module/autoops_es/ccm/
register.go) registers on every start with `Authorization: ApiKey <key>`
and a body without `name`, reading only `id`; Kibana (x-pack/platform/
plugins/shared/cloud_connect/server/services/cloud_connect_client.ts) uses
`Authorization: apiKey <key>`, creates with `create_api_key=true`, reads,
patches and disconnects clusters, reads the subscription, and rotates with
`{}`, reading `{key}`. The scenario works in an organization of its own
(made with the native API), so earlier parts of the suite cannot change
what it sees.

usage: scenario.py BASE_URL KEY  (a `personal` key of the first organization)
"""

import json
import sys
import urllib.error
import urllib.request
import uuid

BASE, ADMIN_KEY = sys.argv[1], sys.argv[2]
CC = BASE + "/api/v1/cloud-connected"
STEPS = []


def step(name):
    STEPS.append(name)
    print(f"ok   {name}", flush=True)


def call(method, url, key, scheme, body=None, if_match=None):
    """One request; returns (status, headers, parsed JSON body)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    req.add_header("Authorization", f"{scheme} {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if if_match is not None:
        req.add_header("If-Match", if_match)
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.headers, json.loads(res.read() or b"null")
    except urllib.error.HTTPError as e:
        assert e.headers.get("Content-Type") == "application/json", e.headers.get("Content-Type")
        return e.code, e.headers, json.loads(e.read() or b"null")


def agent(body):
    return call("POST", CC + "/clusters", KEY, "ApiKey", body)


def kibana(method, path, body=None, if_match=None):
    return call(method, CC + path, KEY, "apiKey", body, if_match)


def native(method, path, body=None, key=None):
    return call(method, BASE + path, key or KEY, "Bearer", body)


def error_code(body):
    assert isinstance(body["errors"], list) and body["errors"], body
    assert isinstance(body["errors"][0]["message"], str), body
    return body["errors"][0]["code"]


status, _, org = call(
    "POST", BASE + "/v1/organizations", ADMIN_KEY, "Bearer", {"name": f"cc-scenario-{uuid.uuid4().hex[:12]}"}
)
assert status == 201, (status, org)
KEY = org["api_key"]["key"]
ORG_HEX = org["organization"]["id"].removeprefix("org_")

# The AutoOps agent, on its first start and after an upgrade.
registration = {
    "self_managed_cluster": {"id": "bJnDrHbXR4-7yT1iQk9dXA", "name": "production-cluster", "version": "9.1.0"},
    "license": {"uid": "893361dc-9749-4997-93cb-802e3d7fa4a8", "type": "platinum"},
}
status, _, first = agent(registration)
assert status == 201, (status, first)
cluster_id = first["id"]
assert first["name"] == "production-cluster", first
assert first["metadata"]["organization_id"] == ORG_HEX, first
registration["self_managed_cluster"]["version"] = "9.2.0"
registration["license"]["type"] = "enterprise"
status, _, second = agent(registration)
assert status == 200 and second["id"] == cluster_id, (status, second)
assert second["self_managed_cluster"]["version"] == "9.2.0", second
assert second["license"]["type"] == "enterprise", second
status, _, native_list = native("GET", "/v1/clusters")
assert [c["id"] for c in native_list["data"]] == [cluster_id], native_list
step("AutoOps registers twice: 201, then 200 with the same id, the new version and license; /v1/clusters sees it")

# Kibana.
status, _, sub = kibana("GET", f"/organizations/{ORG_HEX}/subscription")
assert (status, sub) == (200, {"state": "trial"}), (status, sub)
status, _, terms = kibana("GET", f"/organizations/{ORG_HEX}/terms-and-conditions")
assert (status, terms) == (200, {}), (status, terms)
status, _, terms = kibana("POST", f"/organizations/{ORG_HEX}/terms-and-conditions/_accept")
assert status == 200 and terms["accepted"]["accepted_by"].startswith("aky_"), (status, terms)
step("Kibana reads the subscription and accepts the terms (accepted is an object)")

onboard = {
    "self_managed_cluster": {"id": "kibana-cluster-uuid", "name": "kibana-cluster", "version": "9.1.0"},
    "license": {"type": "trial", "uid": "trial-uid"},
}
status, _, onboarded = kibana("POST", "/clusters?create_api_key=true", onboard)
assert status == 201 and onboarded["key"].startswith("kg_ck_"), (status, onboarded)
kibana_id, cluster_key = onboarded["id"], onboarded["key"]
assert onboarded["services"]["eis"] == {"enabled": False, "supported": True}, onboarded
status, headers, got = kibana("GET", f"/clusters/{kibana_id}")
assert status == 200 and got["id"] == kibana_id and "key" not in got, (status, got)
etag = headers["ETag"]
status, _, patched = kibana(
    "PATCH", f"/clusters/{kibana_id}", {"services": {"eis": {"enabled": True}}}, if_match=etag
)
assert status == 200 and patched["services"]["eis"]["enabled"] is True, (status, patched)
status, _, body = kibana("PATCH", f"/clusters/{kibana_id}", {"name": "x"}, if_match=etag)
assert status == 412 and error_code(body) == "precondition_failed", (status, body)
step("Kibana onboards with create_api_key=true, reads, merge-patches with If-Match (412 when stale)")

# Rotate, then revoke the pending key.
status, headers, rotated = kibana("POST", f"/clusters/{kibana_id}/apikey/_rotate", {})
assert status == 200 and set(rotated) == {"key"}, (status, rotated)
new_key = rotated["key"]
status, _, verdict = native("POST", "/v1/verify", {"key": cluster_key})
assert verdict["valid"] and verdict["status"] == "pending", verdict
status, _, body = kibana("POST", f"/clusters/{kibana_id}/apikey/_revoke-pending", if_match='"stale"')
assert status == 412 and error_code(body) == "precondition_failed", (status, body)
status, _, revoked = kibana("POST", f"/clusters/{kibana_id}/apikey/_revoke-pending", if_match=headers["ETag"])
assert (status, revoked) == (200, {"revoked": 1}), (status, revoked)
status, _, verdict = native("POST", "/v1/verify", {"key": cluster_key})
assert verdict["valid"] is False, verdict
status, _, verdict = native("POST", "/v1/verify", {"key": new_key})
assert verdict["status"] == "current", verdict
status, _, service = kibana("POST", f"/clusters/{kibana_id}/apikey/eis/_rotate", {})
assert status == 200 and service["key"].startswith("kg_cs_"), (status, service)
status, _, service2 = kibana("POST", f"/clusters/{kibana_id}/apikey/eis/_rotate", {})
assert status == 200, (status, service2)
status, _, revoked = kibana("POST", f"/clusters/{kibana_id}/apikey/eis/_revoke-pending")
assert (status, revoked) == (200, {"revoked": 1}), (status, revoked)
status, _, body = kibana("POST", f"/clusters/{kibana_id}/apikey/auto_ops/_rotate", {})
assert status == 409 and error_code(body) == "service_not_enabled", (status, body)
step("rotate answers {key}; the old key is pending until _revoke-pending (If-Match honoured); service keys too")

# Errors.
status, _, body = call("GET", CC + "/clusters", "kg_ak_notakey", "apiKey")
assert status == 401 and error_code(body) == "unauthorized", (status, body)
status, _, body = kibana("GET", "/clusters/" + "0" * 32)
assert status == 404 and error_code(body) == "not_found", (status, body)
status, _, body = kibana("GET", "/organizations/" + "0" * 32 + "/subscription")
assert status == 404 and error_code(body) == "not_found", (status, body)
status, _, body = agent({"self_managed_cluster": {"id": "x", "name": "x", "version": "nine"}})
assert status == 400 and body["errors"][0]["field"] == "self_managed_cluster.version", (status, body)
status, _, serving = native("POST", "/v1/api_keys", {"name": "cc serving", "api_key_role": "serving"})
status, _, body = call("POST", CC + "/clusters", serving["key"], "ApiKey", registration)
assert status == 403 and error_code(body) == "insufficient_role", (status, body)
step("errors: 401, 403, 404, 400 naming the field, each as {errors: [{code, message}]}")

# Disconnect.
for cid in [cluster_id, kibana_id]:
    status, _, body = kibana("DELETE", f"/clusters/{cid}")
    assert (status, body) == (200, {}), (status, body)
status, _, listed = kibana("GET", "/clusters")
assert (status, listed) == (200, {"items": []}), (status, listed)
status, _, verdict = native("POST", "/v1/verify", {"key": new_key})
assert verdict["valid"] is False, verdict
step("disconnect answers 200 {}; the cluster's keys stop working")

print(f"Cloud Connect: {len(STEPS)} steps passed")
