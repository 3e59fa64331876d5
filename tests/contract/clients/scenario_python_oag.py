"""Contract scenario for the openapi-generator `-g python` client of keygate.

Usage: python scenario_python_oag.py BASE_URL KEY   (the generated package
`keygate_client` must be importable, e.g. via PYTHONPATH).
"""

from __future__ import annotations

import secrets
import sys
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
    CreateProviderCredential,
    CreateServiceAccountCredential,
    CredentialDataUpdate,
    CredentialType,
    KeyStatus,
    ProblemDetails,
    Provider,
    Role,
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

    print(f"{CLIENT}: ok")


if __name__ == "__main__":
    try:
        main()
    except ApiException as e:
        fail(f"unexpected {type(e).__name__}: HTTP {e.status} {e.body}")
