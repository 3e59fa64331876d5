"""Contract scenario for the openapi-python-client (0.29.x) client of keygate.

Usage: python scenario_python_opc.py BASE_URL KEY   (the generated package
`keygate_client` must be importable, e.g. via PYTHONPATH).
"""

from __future__ import annotations

import secrets
import sys
import time
from typing import NoReturn

from keygate_client import AuthenticatedClient, errors
from keygate_client.api.api_keys import (
    create_api_key,
    delete_api_key,
    get_api_key,
    list_api_keys,
    update_api_key,
)
from keygate_client.api.identities import create_identity, delete_identity
from keygate_client.api.providers import (
    create_provider_credential,
    delete_provider_credential,
    get_provider_credential,
    update_provider,
    update_provider_credential,
)
from keygate_client.api.verify import verify_key
from keygate_client.models import (
    AdminConsentCredentialType,
    ApiKey,
    ApiKeyList,
    ApiKeyWithSecret,
    ClientCredentialData,
    ConnectorCredentialType,
    CreateAdminConsentCredential,
    CreateApiKey,
    CreateConnectorCredential,
    CreateIdentity,
    CreateServiceAccountCredential,
    CredentialType,
    Identity,
    KeyStatus,
    ProblemDetails,
    Provider,
    ProviderCredential,
    ProviderSettings,
    RateLimit,
    Role,
    Scope,
    ServiceAccountCredentialData,
    ServiceAccountCredentialType,
    UpdateApiKey,
    UpdateProvider,
    UpdateProviderCredential,
    Verification,
    VerifyCode,
    VerifyKey,
)
from keygate_client.types import UNSET, Unset

CLIENT = "python-opc"


def fail(msg: str) -> NoReturn:
    print(f"{CLIENT}: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond: bool, msg: str) -> None:
    if not cond:
        fail(msg)


def provider_credentials(client: AuthenticatedClient, tag: str) -> None:
    """One credential of each type through its own typed class."""
    bodies: list[
        tuple[Provider, CreateServiceAccountCredential | CreateAdminConsentCredential | CreateConnectorCredential]
    ] = [
        (
            Provider.GOOGLE,
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
            CreateAdminConsentCredential(
                name=f"ac-{tag}",
                credential_type=AdminConsentCredentialType.ADMINCONSENT,
                credential_data=ClientCredentialData(client_id="azure-app", client_secret="azure-secret"),
            ),
        ),
        (
            Provider.ZOOM,
            CreateConnectorCredential(
                name=f"co-{tag}",
                credential_type=ConnectorCredentialType.CONNECTOR,
                credential_data=ClientCredentialData(client_id="zoom-app", client_secret="zoom-secret"),
            ),
        ),
    ]
    expected = [CredentialType.SERVICEACCOUNT, CredentialType.ADMINCONSENT, CredentialType.CONNECTOR]
    for (provider, body), credential_type in zip(bodies, expected, strict=True):
        made = create_provider_credential.sync_detailed(provider, client=client, body=body)
        check(made.status_code == 201, f"create {credential_type}: status {made.status_code}, body {made.content!r}")
        cred = made.parsed
        check(isinstance(cred, ProviderCredential), f"create {credential_type}: parsed {type(cred).__name__}")
        assert isinstance(cred, ProviderCredential)
        check(cred.credential_type == credential_type and cred.provider == provider, f"create: {cred}")
        check(b"-secret" not in made.content and b"PRIVATE KEY" not in made.content, "create: a value came back")
        again = create_provider_credential.sync_detailed(provider, client=client, body=body)
        check(again.status_code == 200, f"create {credential_type} again: status {again.status_code}")
        got = get_provider_credential.sync_detailed(provider, cred.id, client=client)
        check(isinstance(got.parsed, ProviderCredential) and got.parsed.id == cred.id, f"get: {got.content!r}")

    # The Zoom connector credential: replace its data, make it active, and
    # see that an active credential is not deleted.
    zoom_id = cred.id
    patched = update_provider_credential.sync_detailed(
        Provider.ZOOM,
        zoom_id,
        client=client,
        body=UpdateProviderCredential(
            credential_data=ClientCredentialData(client_id="zoom-app-2", client_secret="zoom-secret-2")
        ),
    )
    check(patched.status_code == 200, f"update credential: status {patched.status_code}, body {patched.content!r}")
    active = update_provider.sync_detailed(
        Provider.ZOOM, client=client, body=UpdateProvider(active_credential_id=zoom_id)
    )
    check(isinstance(active.parsed, ProviderSettings), f"update provider: {active.content!r}")
    assert isinstance(active.parsed, ProviderSettings)
    check(active.parsed.active_credential_id == zoom_id, f"update provider: {active.parsed}")
    refused = delete_provider_credential.sync_detailed(Provider.ZOOM, zoom_id, client=client)
    check(refused.status_code == 409, f"delete active: status {refused.status_code}")
    cleared = update_provider.sync_detailed(
        Provider.ZOOM, client=client, body=UpdateProvider(active_credential_id=None)
    )
    check(cleared.status_code == 200, f"clear provider: status {cleared.status_code}, body {cleared.content!r}")
    deleted = delete_provider_credential.sync_detailed(Provider.ZOOM, zoom_id, client=client)
    check(deleted.status_code == 204, f"delete: status {deleted.status_code}")


def wait_for_a_fresh_window(duration_ms: int) -> None:
    """Rate limit windows are aligned to the Unix epoch: start a scripted run
    at least 5 s before the current one ends, so it cannot straddle two."""
    left = duration_ms - time.time() * 1000 % duration_ms
    if left < 5000:
        time.sleep(left / 1000 + 0.2)


def limited_verify(client: AuthenticatedClient, tag: str) -> None:
    """An identity sharing a limit of 2 per minute: its key's 3rd verify is RATE_LIMITED."""
    external_id = f"contract-{CLIENT}-{tag}"
    made = create_identity.sync_detailed(
        client=client,
        body=CreateIdentity(
            external_id=external_id, ratelimits=[RateLimit(name="requests", limit=2, duration=60000)]
        ),
    )
    check(made.status_code == 201, f"create identity: status {made.status_code}, body {made.content!r}")
    identity = made.parsed
    check(isinstance(identity, Identity), f"create identity: parsed {type(identity).__name__}")
    assert isinstance(identity, Identity)
    check(identity.external_id == external_id, f"create identity: {identity}")
    check([(r.name, r.limit, r.duration) for r in identity.ratelimits] == [("requests", 2, 60000)], f"{identity}")

    created = create_api_key.sync_detailed(
        client=client,
        body=CreateApiKey(name=f"limited-{tag}", api_key_role=Role.SERVING, identity_id=identity.id),
    )
    check(created.status_code == 201, f"create limited key: status {created.status_code}, body {created.content!r}")
    key = created.parsed
    check(isinstance(key, ApiKeyWithSecret), f"create limited key: parsed {type(key).__name__}")
    assert isinstance(key, ApiKeyWithSecret)

    wait_for_a_fresh_window(60000)
    answers: list[Verification] = []
    for n in range(1, 4):
        v = verify_key.sync_detailed(client=client, body=VerifyKey(key=key.key, ratelimits=["requests"]))
        check(v.status_code == 200, f"limited verify {n}: status {v.status_code}, body {v.content!r}")
        check(isinstance(v.parsed, Verification), f"limited verify {n}: parsed {type(v.parsed).__name__}")
        assert isinstance(v.parsed, Verification)
        answers.append(v.parsed)
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

    deleted = delete_api_key.sync_detailed(key.id, client=client)
    check(deleted.status_code == 204, f"delete limited key: status {deleted.status_code}")
    gone = delete_identity.sync_detailed(identity.id, client=client)
    check(gone.status_code == 204, f"delete identity: status {gone.status_code}, body {gone.content!r}")


def main() -> None:
    if len(sys.argv) != 3:
        fail("usage: scenario_python_opc.py BASE_URL KEY")
    base_url, key = sys.argv[1], sys.argv[2]
    client = AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=True)
    name = f"contract-{CLIENT}-{secrets.token_hex(6)}"

    # create
    created = create_api_key.sync_detailed(client=client, body=CreateApiKey(name=name, api_key_role=Role.SERVING))
    check(created.status_code == 201, f"create: status {created.status_code}, body {created.content!r}")
    made = created.parsed
    check(isinstance(made, ApiKeyWithSecret), f"create: parsed {type(made).__name__}")
    assert isinstance(made, ApiKeyWithSecret)
    check(made.name == name and made.api_key_role == Role.SERVING and made.enabled, f"create: {made}")
    check(made.key.startswith("kg_ak_"), "create: secret does not start with kg_ak_")
    key_id = made.id

    # list, following next_cursor
    found: ApiKey | None = None
    cursor: str | Unset = UNSET
    pages = 0
    while found is None:
        page = list_api_keys.sync_detailed(client=client, limit=100, cursor=cursor)
        check(page.status_code == 200, f"list: status {page.status_code}, body {page.content!r}")
        listed = page.parsed
        check(isinstance(listed, ApiKeyList), f"list: parsed {type(listed).__name__}")
        assert isinstance(listed, ApiKeyList)
        pages += 1
        found = next((k for k in listed.data if k.id == key_id), None)
        if found is None:
            if listed.next_cursor is None:
                fail(f"list: {key_id} not found in {pages} page(s)")
            cursor = listed.next_cursor
    check(found.name == name, f"list: name {found.name!r}")

    # get
    got = get_api_key.sync_detailed(key_id, client=client)
    check(got.status_code == 200, f"get: status {got.status_code}, body {got.content!r}")
    check(isinstance(got.parsed, ApiKey) and got.parsed.id == key_id, f"get: {got.parsed}")

    # disable
    patched = update_api_key.sync_detailed(key_id, client=client, body=UpdateApiKey(enabled=False))
    check(patched.status_code == 200, f"update: status {patched.status_code}, body {patched.content!r}")
    check(isinstance(patched.parsed, ApiKey) and patched.parsed.enabled is False, f"update: {patched.parsed}")

    # verify the disabled key
    v = verify_key.sync_detailed(client=client, body=VerifyKey(key=made.key))
    check(v.status_code == 200, f"verify disabled: status {v.status_code}, body {v.content!r}")
    ver = v.parsed
    check(isinstance(ver, Verification), f"verify disabled: parsed {type(ver).__name__}")
    assert isinstance(ver, Verification)
    check(ver.valid is False and ver.code == VerifyCode.DISABLED, f"verify disabled: {ver}")
    check(ver.api_key_id == key_id, f"verify disabled: api_key_id {ver.api_key_id}")

    # verify the caller's own key
    v = verify_key.sync_detailed(client=client, body=VerifyKey(key=key))
    ver = v.parsed
    check(isinstance(ver, Verification), f"verify own: status {v.status_code}, body {v.content!r}")
    assert isinstance(ver, Verification)
    check(ver.valid is True and ver.code == VerifyCode.VALID, f"verify own: {ver}")
    check(ver.status == KeyStatus.CURRENT, f"verify own: status {ver.status}")
    check(ver.pending_expires_at is None, f"verify own: pending_expires_at {ver.pending_expires_at}")

    # delete
    deleted = delete_api_key.sync_detailed(key_id, client=client)
    check(deleted.status_code == 204, f"delete: status {deleted.status_code}, body {deleted.content!r}")

    # get again: 404 problem
    gone = get_api_key.sync_detailed(key_id, client=client)
    check(gone.status_code == 404, f"get after delete: status {gone.status_code}")
    problem = gone.parsed
    check(isinstance(problem, ProblemDetails), f"get after delete: parsed {type(problem).__name__}")
    assert isinstance(problem, ProblemDetails)
    check(problem.code == "not_found" and problem.status == 404, f"get after delete: {problem}")

    provider_credentials(client, secrets.token_hex(6))
    limited_verify(client, secrets.token_hex(6))

    print(f"{CLIENT}: ok")


if __name__ == "__main__":
    try:
        main()
    except errors.UnexpectedStatus as e:
        fail(f"undocumented status {e.status_code}: {e.content!r}")
