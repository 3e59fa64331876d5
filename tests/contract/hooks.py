"""schemathesis hooks for keygate's contract suite.

Every request is authenticated with a `personal` key of the first
organization, minted straight into the database with `keygate keys create`.
Generated cases may disable, expire, restrict, rotate or delete the very key
they are sent with (they learn its id from `list_api_keys`): that is valid
API use, not a failure. When a request then answers 401, a new key is minted
and the request is retried, so the rest of the run stays authenticated and
keeps reaching the API's logic instead of its 401 path. A case may also put
a rate limit on that key (`ratelimits` on `update_api_key`): a 429 mints a
new key the same way, so the limit does not stall the run.
"""

import os
import subprocess

import schemathesis


@schemathesis.auth(refresh_interval=300, retry_on=[401, 429])
class MintedPersonalKey:
    def get(self, case, context):
        minted = subprocess.run(
            [os.environ["KEYGATE_BIN"], "keys", "create", "--org", "default",
             "--name", "schemathesis", "--role", "personal"],
            check=True, capture_output=True, text=True, timeout=30,
        )
        return minted.stdout.strip()

    def set(self, case, data, context):
        # A dialect's env file may present the key its vendor's way
        # (x-api-key, `ApiKey <key>`); the native default is a bearer token.
        header = os.environ.get("KEYGATE_CONTRACT_AUTH_HEADER", "Authorization")
        prefix = os.environ.get("KEYGATE_CONTRACT_AUTH_PREFIX", "Bearer ")
        case.headers = case.headers or {}
        case.headers[header] = f"{prefix}{data}"
