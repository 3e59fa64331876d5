// Contract scenario for the @hey-api/openapi-ts client of keygate.
// run.sh copies this file next to the generated client (./client) and compiles it with tsc.
// Usage: node scenario.js BASE_URL KEY
import { createApiKey, deleteApiKey, getApiKey, listApiKeys, updateApiKey, verifyKey } from "./client";
import type { ApiKey, ProblemDetails } from "./client";
import {
  createProviderCredential,
  deleteProviderCredential,
  getProviderCredential,
  updateProvider,
  updateProviderCredential,
} from "./client";
import type {
  CreateAdminConsentCredential,
  CreateConnectorCredential,
  CreateServiceAccountCredential,
  Provider,
  ProviderCredential,
} from "./client";
import { createIdentity, deleteIdentity } from "./client";
import type { AppliedRateLimit, CreateIdentity, RateLimit, Verification } from "./client";
import { client } from "./client/client.gen";

const CLIENT = "hey-api";

class Mismatch extends Error {}

function check(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Mismatch(msg);
}

// One credential of each type, each through its own generated type.
async function providerCredentials(tag: string): Promise<void> {
  const serviceAccount: CreateServiceAccountCredential = {
    name: `sa-${tag}`,
    credential_type: "serviceaccount",
    credential_data: { private_key_id: "pkid", private_key: "-----BEGIN PRIVATE KEY-----", client_email: "sa@example.com" },
  };
  const adminConsent: CreateAdminConsentCredential = {
    name: `ac-${tag}`,
    credential_type: "adminconsent",
    credential_data: { client_id: "azure-app", client_secret: "azure-secret" },
  };
  const connector: CreateConnectorCredential = {
    name: `co-${tag}`,
    credential_type: "connector",
    credential_data: { client_id: "zoom-app", client_secret: "zoom-secret" },
  };
  const cases: [Provider, CreateServiceAccountCredential | CreateAdminConsentCredential | CreateConnectorCredential][] = [
    ["google", serviceAccount],
    ["microsoft", adminConsent],
    ["zoom", connector],
  ];
  let last: ProviderCredential | undefined;
  for (const [provider, body] of cases) {
    const made = await createProviderCredential({ path: { provider }, body });
    check(made.response.status === 201, `create ${body.credential_type}: status ${made.response.status} ${JSON.stringify(made.error)}`);
    check(made.data !== undefined, "create: no data");
    check(made.data.credential_type === body.credential_type && made.data.provider === provider, `create: ${JSON.stringify(made.data)}`);
    check(!JSON.stringify(made.data).includes("-secret"), "create: a value came back");
    const again = await createProviderCredential({ path: { provider }, body });
    check(again.response.status === 200, `create again: status ${again.response.status}`);
    const got = await getProviderCredential({ path: { provider, credential_id: made.data.id } });
    check(got.data !== undefined && got.data.id === made.data.id, `get: ${JSON.stringify(got.error)}`);
    last = made.data;
  }
  check(last !== undefined, "no credential");
  const path = { provider: "zoom" as const, credential_id: last.id };
  const patched = await updateProviderCredential({ path, body: { credential_data: { client_id: "zoom-app-2", client_secret: "zoom-secret-2" } } });
  check(patched.data !== undefined, `update credential: status ${patched.response.status} ${JSON.stringify(patched.error)}`);
  const active = await updateProvider({ path: { provider: "zoom" }, body: { active_credential_id: last.id } });
  check(active.data?.active_credential_id === last.id, `update provider: ${JSON.stringify(active.error)}`);
  const refused = await deleteProviderCredential({ path });
  check(refused.response.status === 409, `delete active: status ${refused.response.status}`);
  const cleared = await updateProvider({ path: { provider: "zoom" }, body: { active_credential_id: null } });
  check(cleared.data !== undefined, `clear provider: status ${cleared.response.status}`);
  const deleted = await deleteProviderCredential({ path });
  check(deleted.response.status === 204, `delete: status ${deleted.response.status}`);
}

// Rate limit windows are aligned to the Unix epoch: start a scripted run at
// least 5 s before the current one ends, so it cannot straddle two.
async function waitForAFreshWindow(durationMs: number): Promise<void> {
  const left = durationMs - (Date.now() % durationMs);
  if (left < 5000) await new Promise((resolve) => setTimeout(resolve, left + 200));
}

// An identity sharing a limit of 2 per minute: its key's 3rd verify is RATE_LIMITED.
async function limitedVerify(tag: string): Promise<void> {
  const external_id = `contract-${CLIENT}-${tag}`;
  const limit: RateLimit = { name: "requests", limit: 2, duration: 60000 };
  const body: CreateIdentity = { external_id, ratelimits: [limit] };
  const made = await createIdentity({ body });
  check(made.response.status === 201, `create identity: status ${made.response.status} ${JSON.stringify(made.error)}`);
  const identity = made.data;
  check(identity !== undefined, "create identity: no data");
  check(identity.external_id === external_id, `create identity: ${JSON.stringify(identity)}`);
  check(JSON.stringify(identity.ratelimits) === JSON.stringify([limit]), `create identity: ratelimits ${JSON.stringify(identity.ratelimits)}`);

  const created = await createApiKey({ body: { name: `limited-${tag}`, api_key_role: "serving", identity_id: identity.id } });
  check(created.response.status === 201, `create limited key: status ${created.response.status} ${JSON.stringify(created.error)}`);
  const key = created.data;
  check(key !== undefined, "create limited key: no data");

  await waitForAFreshWindow(limit.duration);
  const answers: Verification[] = [];
  for (let n = 1; n <= 3; n++) {
    const v = await verifyKey({ body: { key: key.key, ratelimits: [limit.name] } });
    check(v.data !== undefined, `limited verify ${n}: status ${v.response.status} ${JSON.stringify(v.error)}`);
    answers.push(v.data);
  }
  const codes = answers.map((a) => a.code);
  check(JSON.stringify(codes) === JSON.stringify(["VALID", "VALID", "RATE_LIMITED"]), `limited verify: codes ${JSON.stringify(codes)}`);
  const last = answers[2];
  check(!last.valid, `limited verify 3: ${JSON.stringify(last)}`);
  check(last.identity !== null && last.identity.external_id === external_id, `limited verify 3: identity ${JSON.stringify(last.identity)}`);
  check(last.identity.id === identity.id, `limited verify 3: identity ${last.identity.id}`);
  check(last.ratelimits.length === 1, `limited verify 3: ratelimits ${JSON.stringify(last.ratelimits)}`);
  const applied: AppliedRateLimit = last.ratelimits[0];
  check(applied.name === "requests" && applied.scope === "identity", `limited verify 3: ${JSON.stringify(applied)}`);
  check(applied.remaining === 0 && applied.exceeded, `limited verify 3: ${JSON.stringify(applied)}`);
  const resetAt = Date.parse(applied.reset_at);
  check(!Number.isNaN(resetAt), `limited verify 3: reset_at ${applied.reset_at}`);
  const left = resetAt - Date.now();
  check(left > 0 && left <= 60500, `limited verify 3: reset_at ${applied.reset_at} is ${left} ms away`);
  check(answers[0].ratelimits[0]?.remaining === 1, `limited verify 1: ${JSON.stringify(answers[0].ratelimits)}`);

  const deleted = await deleteApiKey({ path: { api_key_id: key.id } });
  check(deleted.response.status === 204, `delete limited key: status ${deleted.response.status} ${JSON.stringify(deleted.error)}`);
  const gone = await deleteIdentity({ path: { identity_id: identity.id } });
  check(gone.response.status === 204, `delete identity: status ${gone.response.status} ${JSON.stringify(gone.error)}`);
}

async function main(): Promise<void> {
  const [baseUrl, key] = process.argv.slice(2);
  check(baseUrl !== undefined && key !== undefined, "usage: scenario.js BASE_URL KEY");
  // Send the key as `Authorization: Bearer` only (the document offers bearer_auth or api_key).
  client.setConfig({ baseUrl, auth: (a) => (a.type === "http" ? key : undefined) });
  const name = `contract-${CLIENT}-${Math.random().toString(16).slice(2, 14)}`;

  // create
  const created = await createApiKey({ body: { name, api_key_role: "serving" } });
  check(created.response.status === 201, `create: status ${created.response.status} ${JSON.stringify(created.error)}`);
  const made = created.data;
  check(made !== undefined, "create: no data");
  check(made.name === name && made.api_key_role === "serving" && made.enabled, `create: ${JSON.stringify(made)}`);
  check(made.key.startsWith("kg_ak_"), "create: secret does not start with kg_ak_");
  const id = made.id;

  // list, following next_cursor
  let found: ApiKey | undefined;
  let cursor: string | undefined;
  let pages = 0;
  while (found === undefined) {
    const page = await listApiKeys({ query: { limit: 100, cursor } });
    check(page.data !== undefined, `list: status ${page.response.status} ${JSON.stringify(page.error)}`);
    pages += 1;
    found = page.data.data.find((k) => k.id === id);
    if (found === undefined) {
      check(page.data.next_cursor !== null, `list: ${id} not found in ${pages} page(s)`);
      cursor = page.data.next_cursor;
    }
  }
  check(found.name === name, `list: name ${found.name}`);

  // get
  const got = await getApiKey({ path: { api_key_id: id } });
  check(got.data !== undefined, `get: status ${got.response.status} ${JSON.stringify(got.error)}`);
  check(got.data.id === id && got.data.name === name, `get: ${JSON.stringify(got.data)}`);

  // disable
  const patched = await updateApiKey({ path: { api_key_id: id }, body: { enabled: false } });
  check(patched.data !== undefined, `update: status ${patched.response.status} ${JSON.stringify(patched.error)}`);
  check(patched.data.enabled === false, `update: ${JSON.stringify(patched.data)}`);

  // verify the disabled key
  const v1 = await verifyKey({ body: { key: made.key } });
  check(v1.data !== undefined, `verify disabled: status ${v1.response.status} ${JSON.stringify(v1.error)}`);
  check(!v1.data.valid && v1.data.code === "DISABLED", `verify disabled: ${JSON.stringify(v1.data)}`);
  check(v1.data.api_key_id === id, `verify disabled: api_key_id ${v1.data.api_key_id}`);

  // verify the caller's own key
  const v2 = await verifyKey({ body: { key } });
  check(v2.data !== undefined, `verify own: status ${v2.response.status} ${JSON.stringify(v2.error)}`);
  check(v2.data.valid && v2.data.code === "VALID", `verify own: ${JSON.stringify(v2.data)}`);
  check(v2.data.status === "current", `verify own: status ${v2.data.status}`);
  check(v2.data.pending_expires_at === null, `verify own: pending_expires_at ${v2.data.pending_expires_at}`);

  // delete
  const deleted = await deleteApiKey({ path: { api_key_id: id } });
  check(deleted.response.status === 204, `delete: status ${deleted.response.status} ${JSON.stringify(deleted.error)}`);

  // get again: 404 problem through the client's typed `error`
  const gone = await getApiKey({ path: { api_key_id: id } });
  check(gone.data === undefined, `get after delete: data ${JSON.stringify(gone.data)}`);
  check(gone.response.status === 404, `get after delete: status ${gone.response.status}`);
  const problem: ProblemDetails | undefined = gone.error;
  check(problem !== undefined, "get after delete: no error");
  check(problem.code === "not_found" && problem.status === 404, `get after delete: ${JSON.stringify(problem)}`);

  await providerCredentials(Math.random().toString(16).slice(2, 14));
  await limitedVerify(Math.random().toString(16).slice(2, 14));

  console.log(`${CLIENT}: ok`);
}

main().catch((e: unknown) => {
  console.error(`${CLIENT}: FAIL: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
});
