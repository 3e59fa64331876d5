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
import type { ApiKey } from "./client";

const CLIENT = "typescript-fetch";

class Mismatch extends Error {}

function check(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Mismatch(msg);
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
