#!/usr/bin/env bash
# Generated-client contract check for keygate.
#
# usage: run.sh BASE_URL KEY OUT_DIR
#
# Generates four clients from openapi/openapi.json into OUT_DIR (scratch), checks
# that each builds (Python: import + compileall + ruff; TypeScript: tsc --strict),
# then runs the same scenario with each against the live server at BASE_URL with
# KEY (a `personal` key). Exits non-zero if any step fails and names the steps.
#
# Tools come from KEYGATE_CONTRACT_CACHE (default ~/.cache/keygate-contract):
#   venv/  openapi-generator-cli 7.26.0, openapi-python-client 0.29.1, ruff,
#          python-dateutil 2.9.0.post0 (needed by the openapi-generator python client)
#   npm/   @hey-api/openapi-ts 0.95.0, typescript 5.9.3 (and @types/node)
set -uo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 BASE_URL KEY OUT_DIR" >&2
  exit 2
fi
BASE_URL=$1
KEY=$2
OUT=$3

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SPEC=$(cd "$HERE/../../../openapi" && pwd)/openapi.json
CACHE=${KEYGATE_CONTRACT_CACHE:-$HOME/.cache/keygate-contract}
VENV=$CACHE/venv
NPM=$CACHE/npm
export PATH="$VENV/bin:$NPM/node_modules/.bin:$PATH"
export PYTHONDONTWRITEBYTECODE=1
export REDOCLY_TELEMETRY=off

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOGS=$OUT/logs
mkdir -p "$LOGS"

missing=()
for tool in python openapi-python-client openapi-generator-cli ruff openapi-ts tsc node java; do
  command -v "$tool" > /dev/null 2>&1 || missing+=("$tool")
done
[ -f "$SPEC" ] || missing+=("$SPEC")
python -c 'import httpx, attrs, pydantic, urllib3, dateutil' 2> /dev/null || missing+=("python modules httpx attrs pydantic urllib3 dateutil in $VENV")
if [ ${#missing[@]} -gt 0 ]; then
  echo "clients: missing: ${missing[*]}" >&2
  exit 2
fi

FAILED=()
SUMMARY=()

now() { date +%s.%N; }

# step CLIENT NAME CMD...: runs CMD with output in $LOGS/CLIENT.NAME.log, records
# the time, prints PASS/FAIL; on failure prints the log's tail.
step() {
  local client=$1 name=$2
  shift 2
  local log=$LOGS/$client.$name.log t0 t1 rc secs
  t0=$(now)
  "$@" > "$log" 2>&1
  rc=$?
  t1=$(now)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  if [ $rc -eq 0 ]; then
    SUMMARY+=("PASS  $client $name (${secs}s)")
    echo "PASS  $client $name (${secs}s)"
    return 0
  fi
  SUMMARY+=("FAIL  $client $name (${secs}s, exit $rc, log $log)")
  FAILED+=("$client $name")
  echo "FAIL  $client $name (${secs}s, exit $rc); last lines of $log:"
  tail -n 30 "$log" | sed 's/^/      /'
  return 1
}

skip() {
  SUMMARY+=("SKIP  $1 $2 (an earlier step failed)")
  FAILED+=("$1 $2 (skipped)")
  echo "SKIP  $1 $2"
}

# ---- generators ------------------------------------------------------------

# openapi-python-client exits 0 even when it drops parts of the document; it then
# prints "Warning(s) encountered while generating". Treat that as a failure.
gen_python_opc() {
  rm -rf "$OUT/python-opc"
  openapi-python-client generate --path "$SPEC" --output-path "$OUT/python-opc" --meta uv || return 1
  if grep -qiE 'warning|error' "$LOGS/python-opc.generate.log"; then
    echo "openapi-python-client reported warnings (see above)" >&2
    return 1
  fi
}

# openapi-generator: non-zero exit on errors. Any WARN/ERROR line other than
# these two known ones fails the generator-warnings step:
#  - "OpenAPI 3.1 support is still in beta" (banner)
#  - "Failed to get the schema name: null": 7.26.0 logs it once for any document
#    with a component schema, even a 3.0.3 one with a single plain object schema.
gen_openapi_generator() {
  local gen=$1 dir=$2
  shift 2
  rm -rf "$dir"
  openapi-generator-cli generate -i "$SPEC" -g "$gen" -o "$dir" "$@" || return 1
}
check_oag_warnings() {
  local log=$1 warns
  warns=$(grep -E '\b(WARN|ERROR)\b' "$log" \
    | grep -v -e 'OpenAPI 3.1 support is still in beta' -e 'Failed to get the schema name: null$')
  if [ -n "$warns" ]; then
    echo "openapi-generator warnings:"
    echo "$warns"
    return 1
  fi
  echo "no warnings besides the two known ones"
}

gen_heyapi() {
  rm -rf "$OUT/hey-api"
  mkdir -p "$OUT/hey-api"
  (cd "$OUT/hey-api" && openapi-ts -i "$SPEC" -o "$OUT/hey-api/client") || return 1
  [ -f "$OUT/hey-api/client/sdk.gen.ts" ] || { echo "no sdk.gen.ts generated" >&2; return 1; }
}

# ---- checks ----------------------------------------------------------------

py_import_all() {
  local root=$1
  PYTHONPATH=$root python - << 'EOF'
import importlib, pkgutil, keygate_client
n = 0
for m in pkgutil.walk_packages(keygate_client.__path__, "keygate_client."):
    importlib.import_module(m.name)
    n += 1
print(f"imported keygate_client and {n} submodules")
EOF
}

check_python_opc() {
  py_import_all "$OUT/python-opc" || return 1
  python -m compileall -q "$OUT/python-opc/keygate_client" || return 1
  # the generated pyproject.toml carries the generator's own ruff rules (F, I, UP)
  (cd "$OUT/python-opc" && ruff check --no-cache .) || return 1
  ruff check --no-cache --isolated --select E,F,I,UP,B --line-length 120 --target-version py311 "$HERE/scenario_python_opc.py"
}

check_python_oag() {
  py_import_all "$OUT/python-oag" || return 1
  python -m compileall -q "$OUT/python-oag/keygate_client" || return 1
  # the generator's code is not ruff-clean stylistically (F811, F401, E501); check
  # only for syntax errors and undefined names
  ruff check --no-cache --isolated --select E9,F63,F7,F82 "$OUT/python-oag/keygate_client" || return 1
  ruff check --no-cache --isolated --select E,F,I,UP,B --line-length 120 --target-version py311 "$HERE/scenario_python_oag.py"
}

# ts_project DIR SCENARIO: puts the scenario and a tsconfig next to DIR/client
ts_project() {
  local dir=$1 scenario=$2
  cp "$HERE/$scenario" "$dir/scenario.ts"
  cat > "$dir/tsconfig.json" << EOF
{
  "compilerOptions": {
    "target": "es2022",
    "lib": ["es2022", "dom", "dom.iterable"],
    "module": "commonjs",
    "moduleResolution": "node10",
    "strict": true,
    "esModuleInterop": true,
    "forceConsistentCasingInFileNames": true,
    "typeRoots": ["$NPM/node_modules/@types"],
    "types": ["node"],
    "rootDir": ".",
    "outDir": "dist"
  },
  "include": ["scenario.ts", "client/**/*.ts"]
}
EOF
}

check_ts() {
  local dir=$1 scenario=$2
  ts_project "$dir" "$scenario" || return 1
  (cd "$dir" && tsc -p tsconfig.json --noEmit --strict) || return 1
  echo "tsc --noEmit --strict: no errors"
}

build_ts() {
  local dir=$1
  rm -rf "$dir/dist"
  (cd "$dir" && tsc -p tsconfig.json) || return 1
  echo '{"type": "commonjs"}' > "$dir/dist/package.json"
}

# ---- scenarios -------------------------------------------------------------

run_python() {
  local root=$1 scenario=$2
  PYTHONPATH=$root python "$HERE/$scenario" "$BASE_URL" "$KEY"
}

run_node() {
  local dir=$1
  node "$dir/dist/scenario.js" "$BASE_URL" "$KEY"
}

# Each client runs generate -> check -> scenario; a failed step skips the rest of
# that client's chain, the other clients go on.
client_python_opc() {
  local c=python-opc
  step $c generate gen_python_opc || { skip $c check; skip $c scenario; return; }
  step $c check check_python_opc || { skip $c scenario; return; }
  step $c scenario run_python "$OUT/python-opc" scenario_python_opc.py
}

client_python_oag() {
  local c=python-oag
  step $c generate gen_openapi_generator python "$OUT/python-oag" --package-name keygate_client \
    || { skip $c check; skip $c scenario; return; }
  step $c generator-warnings check_oag_warnings "$LOGS/$c.generate.log"
  step $c check check_python_oag || { skip $c scenario; return; }
  step $c scenario run_python "$OUT/python-oag" scenario_python_oag.py
}

client_typescript_fetch() {
  local c=typescript-fetch
  step $c generate gen_openapi_generator typescript-fetch "$OUT/typescript-fetch/client" \
    || { skip $c check; skip $c scenario; return; }
  step $c generator-warnings check_oag_warnings "$LOGS/$c.generate.log"
  step $c check check_ts "$OUT/typescript-fetch" scenario_fetch.ts || { skip $c scenario; return; }
  step $c build build_ts "$OUT/typescript-fetch" || { skip $c scenario; return; }
  step $c scenario run_node "$OUT/typescript-fetch"
}

client_heyapi() {
  local c=hey-api
  step $c generate gen_heyapi || { skip $c check; skip $c scenario; return; }
  step $c check check_ts "$OUT/hey-api" scenario_heyapi.ts || { skip $c scenario; return; }
  step $c build build_ts "$OUT/hey-api" || { skip $c scenario; return; }
  step $c scenario run_node "$OUT/hey-api"
}

T0=$(now)
client_python_opc
client_python_oag
client_typescript_fetch
client_heyapi
TOTAL=$(awk -v a="$T0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')

echo
echo "== clients summary (${TOTAL}s; logs in $LOGS)"
printf '%s\n' "${SUMMARY[@]}"
echo "== scenario output"
for c in python-opc python-oag typescript-fetch hey-api; do
  [ -f "$LOGS/$c.scenario.log" ] && grep -E ': (ok|FAIL)' "$LOGS/$c.scenario.log"
done
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "clients: FAILED: $(printf '%s; ' "${FAILED[@]}")" >&2
  exit 1
fi
echo "clients: all passed"
