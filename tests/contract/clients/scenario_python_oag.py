"""Contract scenario for the openapi-generator `-g python` client of keygate.

Usage: python scenario_python_oag.py BASE_URL KEY   (the generated package
`keygate_client` must be importable, e.g. via PYTHONPATH).
"""

from __future__ import annotations

import secrets
import sys
import time
from typing import NoReturn

import keygate_client
from keygate_client.exceptions import ApiException, ConflictException, NotFoundException
from keygate_client.models import (
    AdminConsentCredentialType,
    ApiKey,
    ClientCredentialData,
    ConnectorCredentialType,
    CreateAdminConsentCredential,
    CreateApiKey,
    CreateConnectorCredential,
    CreateIdentity,
    CreateProviderCredential,
    CreateServiceAccountCredential,
    CredentialDataUpdate,
    CredentialType,
    KeyStatus,
    ProblemDetails,
    Provider,
    RateLimit,
    Role,
    Scope,
    ServiceAccountCredentialData,
    ServiceAccountCredentialType,
    UpdateApiKey,
    UpdateProvider,
    UpdateProviderCredential,
    VerifyCode,
    VerifyKey,
)

CLIENT = "python-oag"


def fail(msg: str) -> NoReturn:
    print(f"{CLIENT}: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond: bool, msg: str) -> None:
    if not cond:
        fail(msg)


def provider_credentials(api_client: keygate_client.ApiClient, tag: str) -> None:
    """One credential of each type through its own typed class, wrapped in the oneOf class."""
    providers = keygate_client.ProvidersApi(api_client)
    bodies = [
        (
            Provider.GOOGLE,
            CredentialType.SERVICEACCOUNT,
            CreateServiceAccountCredential(
                name=f"sa-{tag}",
                credential_type=ServiceAccountCredentialType.SERVICEACCOUNT,
                credential_data=ServiceAccountCredentialData(
                    private_key_id="pkid", private_key="-----BEGIN PRIVATE KEY-----", client_email="sa@example.com"
                ),
            ),
        ),
        (
            Provider.MICROSOFT,
            CredentialType.ADMINCONSENT,
            CreateAdminConsentCredential(
                name=f"ac-{tag}",
                credential_type=AdminConsentCredentialType.ADMINCONSENT,
                credential_data=ClientCredentialData(client_id="azure-app", client_secret="azure-secret"),
            ),
        ),
        (
            Provider.ZOOM,
            CredentialType.CONNECTOR,
            CreateConnectorCredential(
                name=f"co-{tag}",
                credential_type=ConnectorCredentialType.CONNECTOR,
                credential_data=ClientCredentialData(client_id="zoom-app", client_secret="zoom-secret"),
            ),
        ),
    ]
    cred_id = ""
    for provider, credential_type, typed in bodies:
        body = CreateProviderCredential(typed)
        made = providers.create_provider_credential_with_http_info(provider, body)
        check(made.status_code == 201, f"create {credential_type}: status {made.status_code}")
        check(made.data.credential_type == credential_type and made.data.provider == provider, f"create: {made.data}")
        check(b"-secret" not in made.raw_data and b"PRIVATE KEY" not in made.raw_data, "create: a value came back")
        again = providers.create_provider_credential_with_http_info(provider, body)
        check(again.status_code == 200 and again.data.id == made.data.id, f"create again: {again.status_code}")
        got = providers.get_provider_credential(provider, made.data.id)
        check(got.id == made.data.id, f"get: {got}")
        cred_id = made.data.id

    data = CredentialDataUpdate(ClientCredentialData(client_id="zoom-app-2", client_secret="zoom-secret-2"))
    patched = providers.update_provider_credential(
        Provider.ZOOM, cred_id, UpdateProviderCredential(credential_data=data)
    )
    check(patched.id == cred_id, f"update credential: {patched}")
    active = providers.update_provider(Provider.ZOOM, UpdateProvider(active_credential_id=cred_id))
    check(active.active_credential_id == cred_id, f"update provider: {active}")
    try:
        providers.delete_provider_credential(Provider.ZOOM, cred_id)
    except ConflictException as e:
        check(e.status == 409, f"delete active: status {e.status}")
    else:
        fail("delete active: no ConflictException")
    cleared = providers.update_provider(Provider.ZOOM, UpdateProvider(active_credential_id=None))
    check(cleared.active_credential_id is None, f"clear provider: {cleared}")
    deleted = providers.delete_provider_credential_with_http_info(Provider.ZOOM, cred_id)
    check(deleted.status_code == 204, f"delete: status {deleted.status_code}")


def wait_for_a_fresh_window(duration_ms: int) -> None:
    """Rate limit windows are aligned to the Unix epoch: start a scripted run
    at least 5 s before the current one ends, so it cannot straddle two."""
    left = duration_ms - time.time() * 1000 % duration_ms
    if left < 5000:
        time.sleep(left / 1000 + 0.2)


def limited_verify(api_client: keygate_client.ApiClient, tag: str) -> None:
    """An identity sharing a limit of 2 per minute: its key's 3rd verify is RATE_LIMITED."""
    identities = keygate_client.IdentitiesApi(api_client)
    keys = keygate_client.ApiKeysApi(api_client)
    verify = keygate_client.VerifyApi(api_client)
    external_id = f"contract-{CLIENT}-{tag}"
    made = identities.create_identity_with_http_info(
        CreateIdentity(external_id=external_id, ratelimits=[RateLimit(name="requests", limit=2, duration=60000)])
    )
    check(made.status_code == 201, f"create identity: status {made.status_code}")
    identity = made.data
    check(identity.external_id == external_id, f"create identity: {identity}")
    check([(r.name, r.limit, r.duration) for r in identity.ratelimits] == [("requests", 2, 60000)], f"{identity}")

    created = keys.create_api_key_with_http_info(
        CreateApiKey(name=f"limited-{tag}", api_key_role=Role.SERVING, identity_id=identity.id)
    )
    check(created.status_code == 201, f"create limited key: status {created.status_code}")
    key = created.data

    wait_for_a_fresh_window(60000)
    answers = [verify.verify_key(VerifyKey(key=key.key, ratelimits=["requests"])) for _ in range(3)]
    codes = [a.code for a in answers]
    check(codes == [VerifyCode.VALID, VerifyCode.VALID, VerifyCode.RATE_LIMITED], f"limited verify: codes {codes}")
    last = answers[2]
    check(last.valid is False, f"limited verify 3: {last}")
    check(last.identity is not None and last.identity.external_id == external_id, f"limited verify 3: {last.identity}")
    assert last.identity is not None
    check(last.identity.id == identity.id, f"limited verify 3: identity {last.identity.id}")
    check(len(last.ratelimits) == 1, f"limited verify 3: ratelimits {last.ratelimits}")
    applied = last.ratelimits[0]
    check(applied.name == "requests" and applied.scope == Scope.IDENTITY, f"limited verify 3: {applied}")
    check(applied.remaining == 0 and applied.exceeded is True, f"limited verify 3: {applied}")
    check(applied.reset_at.tzinfo is not None, f"limited verify 3: reset_at {applied.reset_at!r}")
    left = applied.reset_at.timestamp() - time.time()
    check(0 < left <= 60.5, f"limited verify 3: reset_at {applied.reset_at} is {left:.1f} s away")
    check(answers[0].ratelimits[0].remaining == 1, f"limited verify 1: {answers[0].ratelimits}")

    deleted = keys.delete_api_key_with_http_info(key.id)
    check(deleted.status_code == 204, f"delete limited key: status {deleted.status_code}")
    gone = identities.delete_identity_with_http_info(identity.id)
    check(gone.status_code == 204, f"delete identity: status {gone.status_code}")


def main() -> None:
    if len(sys.argv) != 3:
        fail("usage: scenario_python_oag.py BASE_URL KEY")
    base_url, key = sys.argv[1], sys.argv[2]
    config = keygate_client.Configuration(host=base_url, access_token=key)
    with keygate_client.ApiClient(config) as api_client:
        keys = keygate_client.ApiKeysApi(api_client)
        verify = keygate_client.VerifyApi(api_client)
        name = f"contract-{CLIENT}-{secrets.token_hex(6)}"

        # create
        created = keys.create_api_key_with_http_info(CreateApiKey(name=name, api_key_role=Role.SERVING))
        check(created.status_code == 201, f"create: status {created.status_code}")
        made = created.data
        check(made.name == name and made.api_key_role == Role.SERVING and made.enabled, f"create: {made}")
        check(made.key.startswith("kg_ak_"), "create: secret does not start with kg_ak_")
        key_id = made.id

        # list, following next_cursor
        found: ApiKey | None = None
        cursor: str | None = None
        pages = 0
        while found is None:
            page = keys.list_api_keys(limit=100, cursor=cursor)
            pages += 1
            found = next((k for k in page.data if k.id == key_id), None)
            if found is None:
                if page.next_cursor is None:
                    fail(f"list: {key_id} not found in {pages} page(s)")
                cursor = page.next_cursor
        check(found.name == name, f"list: name {found.name!r}")

        # get
        got = keys.get_api_key(key_id)
        check(got.id == key_id and got.name == name, f"get: {got}")

        # disable
        patched = keys.update_api_key(key_id, UpdateApiKey(enabled=False))
        check(patched.enabled is False, f"update: {patched}")

        # verify the disabled key
        ver = verify.verify_key(VerifyKey(key=made.key))
        check(ver.valid is False and ver.code == VerifyCode.DISABLED, f"verify disabled: {ver}")
        check(ver.api_key_id == key_id, f"verify disabled: api_key_id {ver.api_key_id}")

        # verify the caller's own key
        ver = verify.verify_key(VerifyKey(key=key))
        check(ver.valid is True and ver.code == VerifyCode.VALID, f"verify own: {ver}")
        check(ver.status == KeyStatus.CURRENT, f"verify own: status {ver.status}")
        check(ver.pending_expires_at is None, f"verify own: pending_expires_at {ver.pending_expires_at}")

        # delete
        deleted = keys.delete_api_key_with_http_info(key_id)
        check(deleted.status_code == 204, f"delete: status {deleted.status_code}")

        # get again: 404 problem through the client's exception
        try:
            keys.get_api_key(key_id)
        except NotFoundException as e:
            check(e.status == 404, f"get after delete: status {e.status}")
            problem = e.data
            check(isinstance(problem, ProblemDetails), f"get after delete: data {type(problem).__name__}: {e.body}")
            assert isinstance(problem, ProblemDetails)
            check(problem.code == "not_found" and problem.status == 404, f"get after delete: {problem}")
        else:
            fail("get after delete: no NotFoundException")

        provider_credentials(api_client, secrets.token_hex(6))
        limited_verify(api_client, secrets.token_hex(6))

    print(f"{CLIENT}: ok")


if __name__ == "__main__":
    try:
        main()
    except ApiException as e:
        fail(f"unexpected {type(e).__name__}: HTTP {e.status} {e.body}")
