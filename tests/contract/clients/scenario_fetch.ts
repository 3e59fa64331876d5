// Contract scenario for the openapi-generator `-g typescript-fetch` client of keygate.
// run.sh copies this file next to the generated client (./client) and compiles it with tsc.
// Usage: node scenario.js BASE_URL KEY
import {
  ApiKeysApi,
  Configuration,
  KeyStatus,
  ProblemDetailsFromJSON,
  ResponseError,
  Role,
  VerifyApi,
  VerifyCode,
} from "./client";
import type { ApiKey, Verification } from "./client";
import { IdentitiesApi, Scope } from "./client";
import {
  AdminConsentCredentialType,
  ConnectorCredentialType,
  CredentialType,
  Provider,
  ProvidersApi,
  ServiceAccountCredentialType,
} from "./client";
import type { CreateProviderCredential } from "./client";

const CLIENT = "typescript-fetch";

class Mismatch extends Error {}

function check(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Mismatch(msg);
}

// One credential of each type, each through its own generated type of the oneOf.
async function providerCredentials(config: Configuration, tag: string): Promise<void> {
  const providers = new ProvidersApi(config);
  const cases: [Provider, CredentialType, CreateProviderCredential][] = [
    [
      Provider.Google,
      CredentialType.Serviceaccount,
      {
        name: `sa-${tag}`,
        credentialType: ServiceAccountCredentialType.Serviceaccount,
        credentialData: { privateKeyId: "pkid", privateKey: "-----BEGIN PRIVATE KEY-----", clientEmail: "sa@example.com" },
      },
    ],
    [
      Provider.Microsoft,
      CredentialType.Adminconsent,
      {
        name: `ac-${tag}`,
        credentialType: AdminConsentCredentialType.Adminconsent,
        credentialData: { clientId: "azure-app", clientSecret: "azure-secret" },
      },
    ],
    [
      Provider.Zoom,
      CredentialType.Connector,
      {
        name: `co-${tag}`,
        credentialType: ConnectorCredentialType.Connector,
        credentialData: { clientId: "zoom-app", clientSecret: "zoom-secret" },
      },
    ],
  ];
  let credentialId = "";
  for (const [provider, credentialType, body] of cases) {
    const made = await providers.createProviderCredentialRaw({ provider, createProviderCredential: body });
    check(made.raw.status === 201, `create ${credentialType}: status ${made.raw.status}`);
    const cred = await made.value();
    check(cred.credentialType === credentialType && cred.provider === provider, `create: ${JSON.stringify(cred)}`);
    check(!JSON.stringify(cred).includes("-secret"), "create: a value came back");
    const again = await providers.createProviderCredentialRaw({ provider, createProviderCredential: body });
    check(again.raw.status === 200, `create again: status ${again.raw.status}`);
    const got = await providers.getProviderCredential({ provider, credentialId: cred.id });
    check(got.id === cred.id, `get: ${JSON.stringify(got)}`);
    credentialId = cred.id;
  }
  const path = { provider: Provider.Zoom, credentialId };
  const patched = await providers.updateProviderCredential({
    ...path,
    updateProviderCredential: { credentialData: { clientId: "zoom-app-2", clientSecret: "zoom-secret-2" } },
  });
  check(patched.id === credentialId, `update credential: ${JSON.stringify(patched)}`);
  const active = await providers.updateProvider({ provider: Provider.Zoom, updateProvider: { activeCredentialId: credentialId } });
  check(active.activeCredentialId === credentialId, `update provider: ${JSON.stringify(active)}`);
  try {
    await providers.deleteProviderCredential(path);
    throw new Mismatch("delete active: no error");
  } catch (e) {
    if (!(e instanceof ResponseError)) throw e;
    check(e.response.status === 409, `delete active: status ${e.response.status}`);
  }
  const cleared = await providers.updateProvider({ provider: Provider.Zoom, updateProvider: { activeCredentialId: null } });
  check(cleared.activeCredentialId === null, `clear provider: ${JSON.stringify(cleared)}`);
  const deleted = await providers.deleteProviderCredentialRaw(path);
  check(deleted.raw.status === 204, `delete: status ${deleted.raw.status}`);
}

// Rate limit windows are aligned to the Unix epoch: start a scripted run at
// least 5 s before the current one ends, so it cannot straddle two.
async function waitForAFreshWindow(durationMs: number): Promise<void> {
  const left = durationMs - (Date.now() % durationMs);
  if (left < 5000) await new Promise((resolve) => setTimeout(resolve, left + 200));
}

// An identity sharing a limit of 2 per minute: its key's 3rd verify is RATE_LIMITED.
async function limitedVerify(config: Configuration, tag: string): Promise<void> {
  const identities = new IdentitiesApi(config);
  const keys = new ApiKeysApi(config);
  const verify = new VerifyApi(config);
  const externalId = `contract-${CLIENT}-${tag}`;
  const made = await identities.createIdentityRaw({
    createIdentity: { externalId, ratelimits: [{ name: "requests", limit: 2, duration: 60000 }] },
  });
  check(made.raw.status === 201, `create identity: status ${made.raw.status}`);
  const identity = await made.value();
  check(identity.externalId === externalId, `create identity: ${JSON.stringify(identity)}`);
  const limits = identity.ratelimits.map((r) => [r.name, r.limit, r.duration]);
  check(JSON.stringify(limits) === JSON.stringify([["requests", 2, 60000]]), `create identity: ratelimits ${JSON.stringify(limits)}`);

  const created = await keys.createApiKeyRaw({
    createApiKey: { name: `limited-${tag}`, apiKeyRole: Role.Serving, identityId: identity.id },
  });
  check(created.raw.status === 201, `create limited key: status ${created.raw.status}`);
  const key = await created.value();

  await waitForAFreshWindow(60000);
  const answers: Verification[] = [];
  for (let n = 0; n < 3; n++) {
    answers.push(await verify.verifyKey({ verifyKey: { key: key.key, ratelimits: ["requests"] } }));
  }
  const codes = answers.map((a) => a.code);
  const expected = [VerifyCode.Valid, VerifyCode.Valid, VerifyCode.RateLimited];
  check(JSON.stringify(codes) === JSON.stringify(expected), `limited verify: codes ${JSON.stringify(codes)}`);
  const last = answers[2];
  check(!last.valid, `limited verify 3: ${JSON.stringify(last)}`);
  check(last.identity !== null && last.identity.externalId === externalId, `limited verify 3: identity ${JSON.stringify(last.identity)}`);
  check(last.identity.id === identity.id, `limited verify 3: identity ${last.identity.id}`);
  check(last.ratelimits.length === 1, `limited verify 3: ratelimits ${JSON.stringify(last.ratelimits)}`);
  const applied = last.ratelimits[0];
  check(applied.name === "requests" && applied.scope === Scope.Identity, `limited verify 3: ${JSON.stringify(applied)}`);
  check(applied.remaining === 0 && applied.exceeded, `limited verify 3: ${JSON.stringify(applied)}`);
  check(applied.resetAt instanceof Date && !Number.isNaN(applied.resetAt.getTime()), `limited verify 3: resetAt ${applied.resetAt}`);
  const left = applied.resetAt.getTime() - Date.now();
  check(left > 0 && left <= 60500, `limited verify 3: resetAt ${applied.resetAt.toISOString()} is ${left} ms away`);
  check(answers[0].ratelimits[0]?.remaining === 1, `limited verify 1: ${JSON.stringify(answers[0].ratelimits)}`);

  const deleted = await keys.deleteApiKeyRaw({ apiKeyId: key.id });
  check(deleted.raw.status === 204, `delete limited key: status ${deleted.raw.status}`);
  const gone = await identities.deleteIdentityRaw({ identityId: identity.id });
  check(gone.raw.status === 204, `delete identity: status ${gone.raw.status}`);
}

async function main(): Promise<void> {
  const [baseUrl, key] = process.argv.slice(2);
  check(baseUrl !== undefined && key !== undefined, "usage: scenario.js BASE_URL KEY");
  const config = new Configuration({ basePath: baseUrl, accessToken: key });
  const keys = new ApiKeysApi(config);
  const verify = new VerifyApi(config);
  const name = `contract-${CLIENT}-${Math.random().toString(16).slice(2, 14)}`;

  // create
  const created = await keys.createApiKeyRaw({ createApiKey: { name, apiKeyRole: Role.Serving } });
  check(created.raw.status === 201, `create: status ${created.raw.status}`);
  const made = await created.value();
  check(made.name === name && made.apiKeyRole === Role.Serving && made.enabled, `create: ${JSON.stringify(made)}`);
  check(made.key.startsWith("kg_ak_"), "create: secret does not start with kg_ak_");
  const id = made.id;

  // list, following nextCursor
  let found: ApiKey | undefined;
  let cursor: string | undefined;
  let pages = 0;
  while (found === undefined) {
    const page = await keys.listApiKeys({ limit: 100, cursor });
    pages += 1;
    found = page.data.find((k) => k.id === id);
    if (found === undefined) {
      check(page.nextCursor !== null, `list: ${id} not found in ${pages} page(s)`);
      cursor = page.nextCursor;
    }
  }
  check(found.name === name, `list: name ${found.name}`);

  // get
  const got = await keys.getApiKey({ apiKeyId: id });
  check(got.id === id && got.name === name, `get: ${JSON.stringify(got)}`);
  check(got.createdAt instanceof Date, "get: createdAt is not a Date");

  // disable
  const patched = await keys.updateApiKey({ apiKeyId: id, updateApiKey: { enabled: false } });
  check(patched.enabled === false, `update: ${JSON.stringify(patched)}`);

  // verify the disabled key
  let ver = await verify.verifyKey({ verifyKey: { key: made.key } });
  check(!ver.valid && ver.code === VerifyCode.Disabled, `verify disabled: ${JSON.stringify(ver)}`);
  check(ver.apiKeyId === id, `verify disabled: apiKeyId ${ver.apiKeyId}`);

  // verify the caller's own key
  ver = await verify.verifyKey({ verifyKey: { key } });
  check(ver.valid && ver.code === VerifyCode.Valid, `verify own: ${JSON.stringify(ver)}`);
  check(ver.status === KeyStatus.Current, `verify own: status ${ver.status}`);
  check(ver.pendingExpiresAt === null, `verify own: pendingExpiresAt ${ver.pendingExpiresAt}`);

  // delete
  const deleted = await keys.deleteApiKeyRaw({ apiKeyId: id });
  check(deleted.raw.status === 204, `delete: status ${deleted.raw.status}`);

  // get again: 404 problem through the client's ResponseError
  try {
    await keys.getApiKey({ apiKeyId: id });
    throw new Mismatch("get after delete: no error");
  } catch (e) {
    if (!(e instanceof ResponseError)) throw e;
    check(e.response.status === 404, `get after delete: status ${e.response.status}`);
    const ct = e.response.headers.get("content-type") ?? "";
    check(ct.startsWith("application/problem+json"), `get after delete: content-type ${ct}`);
    const problem = ProblemDetailsFromJSON(await e.response.json());
    check(problem.code === "not_found" && problem.status === 404, `get after delete: ${JSON.stringify(problem)}`);
  }

  await providerCredentials(config, Math.random().toString(16).slice(2, 14));
  await limitedVerify(config, Math.random().toString(16).slice(2, 14));

  console.log(`${CLIENT}: ok`);
}

main().catch(async (e: unknown) => {
  if (e instanceof ResponseError) {
    const body = await e.response.text().catch(() => "");
    console.error(`${CLIENT}: FAIL: ${e.response.url}: HTTP ${e.response.status} ${body}`);
  } else {
    console.error(`${CLIENT}: FAIL: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }
  process.exit(1);
});
