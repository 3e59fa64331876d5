"""metrics: `GET /metrics` on every node is Prometheus text (format 0.0.4)
that parses, passes `promtool check metrics`, and has the families DESIGN
§5 asks for: requests by operationId and status, latency histograms, the
cache, the pool and invalidation (lag).

Runs after the revocation, listener and rotation parts, so the counters
have seen traffic. Checks, per node:
- 200 with `Content-Type: text/plain...` (unauthenticated; a 401 is retried
  once with the bootstrap key and said so);
- the suite's own parser of the text format accepts it: HELP/TYPE lines,
  names, labels and escapes, values, one TYPE per family before its
  samples, a family's samples together, no duplicate series, counters not
  negative, histogram buckets cumulative with `le="+Inf"` equal to
  `_count`, a final newline;
- `promtool check metrics` prints nothing and exits 0 (when promtool is
  installed: `run` installs Debian's `prometheus` package; without it this
  check is skipped unless KEYGATE_MULTINODE_REQUIRE_PROMTOOL=1);
and on every node: each family of EXPECTED below, and a requests sample
labelled with an operationId the suite called (`verify_key`) and a status
(`200`).
"""

import math
import os
import re
import shutil
import subprocess

from harness import SetupError

# The families every node's /metrics must have: (what, regex over the sample
# and family names, required TYPE or None). The exact names are the
# implementer's choice: when the implementation names them differently,
# change this list (and only this list) to match, keeping one entry per
# need of docs/OPERATIONS.md's metrics.
EXPECTED = [
    ("requests by operationId and status", r"keygate_http_requests_total", "counter"),
    ("request latency histogram", r"keygate_http_request_duration_seconds", "histogram"),
    ("auth cache", r"keygate_auth_cache_\w+", None),
    ("database pool", r"keygate_db_pool_\w+", None),
    ("invalidations", r"keygate_invalidations?_\w+", None),
    ("invalidation lag", r"keygate_invalidation\w*_lag\w*", None),
]
# A sample of the requests family must carry these label values.
REQUEST_FAMILY = r"keygate_http_requests_total"
REQUEST_LABEL_VALUES = ("verify_key", "200")

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class ParseError(Exception):
    pass


def parse_value(text, where):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise ParseError(f"{where}: bad value {text!r}") from None


def parse_labels(s, i, where):
    """Labels from s[i] == '{'; returns (dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        while i < len(s) and s[i] == " ":
            i += 1
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = LABEL.match(s, i)
        if not m:
            raise ParseError(f"{where}: bad label name at {s[i:i + 20]!r}")
        name = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            raise ParseError(f"{where}: label {name} without =\"")
        i += 2
        out = []
        while True:
            if i >= len(s):
                raise ParseError(f"{where}: unterminated label value")
            c = s[i]
            if c == "\\":
                nxt = s[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise ParseError(f"{where}: bad escape \\{nxt}")
                out.append({"\\": "\\", '"': '"', "n": "\n"}[nxt])
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                out.append(c)
                i += 1
        if name in labels:
            raise ParseError(f"{where}: label {name} twice")
        labels[name] = "".join(out)
        while i < len(s) and s[i] == " ":
            i += 1
        if i < len(s) and s[i] == ",":
            i += 1
            continue
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        raise ParseError(f"{where}: expected , or }} in labels")


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count", ""):
        if suffix and not name.endswith(suffix):
            continue
        base = name[:-len(suffix)] if suffix else name
        t = types.get(base)
        if t in ("histogram", "summary") and suffix:
            return base
        if not suffix:
            return base
    return name


def parse(text):
    """Parses the text format; returns (types, samples) where samples is a
    list of (name, labels, value). Raises ParseError."""
    if text and not text.endswith("\n"):
        raise ParseError("does not end with a newline")
    types, helps, samples = {}, {}, []
    seen_series = set()
    finished = set()   # families whose samples ended
    current = None
    for n, line in enumerate(text.split("\n")[:-1] if text else [], 1):
        where = f"line {n}"
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 3 or not NAME.fullmatch(parts[2]):
                    raise ParseError(f"{where}: bad {parts[1]} line")
                name = parts[2]
                if parts[1] == "TYPE":
                    t = parts[3].strip() if len(parts) > 3 else ""
                    if t not in TYPES:
                        raise ParseError(f"{where}: unknown type {t!r}")
                    if name in types:
                        raise ParseError(f"{where}: second TYPE for {name}")
                    if any(s[0] == name or family_of(s[0], {name: t}) == name
                           for s in samples):
                        raise ParseError(f"{where}: TYPE for {name} after its samples")
                    types[name] = t
                else:
                    if name in helps:
                        raise ParseError(f"{where}: second HELP for {name}")
                    helps[name] = parts[3] if len(parts) > 3 else ""
            continue
        m = NAME.match(line)
        if not m:
            raise ParseError(f"{where}: bad metric name in {line[:60]!r}")
        name = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = parse_labels(line, i, where)
        rest = line[i:].split()
        if len(rest) not in (1, 2) or (i < len(line) and line[i] != " "):
            raise ParseError(f"{where}: expected a value (and a timestamp) in {line[:80]!r}")
        value = parse_value(rest[0], where)
        if len(rest) == 2 and not re.fullmatch(r"-?\d+", rest[1]):
            raise ParseError(f"{where}: bad timestamp {rest[1]!r}")
        fam = family_of(name, types)
        if fam != current:
            if fam in finished:
                raise ParseError(f"{where}: samples of {fam} are not together")
            if current is not None:
                finished.add(current)
            current = fam
        series = (name, tuple(sorted(labels.items())))
        if series in seen_series:
            raise ParseError(f"{where}: duplicate series {name}{labels}")
        seen_series.add(series)
        t = types.get(fam, "untyped")
        if t == "counter" and not value >= 0:
            raise ParseError(f"{where}: counter {name} is {value}")
        samples.append((name, labels, value))
    check_histograms(types, samples)
    return types, samples


def check_histograms(types, samples):
    for fam, t in types.items():
        if t != "histogram":
            continue
        groups = {}
        for name, labels, value in samples:
            if name not in (f"{fam}_bucket", f"{fam}_sum", f"{fam}_count"):
                continue
            rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            g = groups.setdefault(rest, {"buckets": [], "count": None, "sum": None})
            if name.endswith("_bucket"):
                if "le" not in labels:
                    raise ParseError(f"{fam}: bucket without le")
                g["buckets"].append((parse_value(labels["le"], fam), value))
            elif name.endswith("_count"):
                g["count"] = value
            else:
                g["sum"] = value
        for rest, g in groups.items():
            b = sorted(g["buckets"])
            if not b or b[-1][0] != math.inf:
                raise ParseError(f"{fam}{dict(rest)}: no le=\"+Inf\" bucket")
            if any(b[k][1] > b[k + 1][1] for k in range(len(b) - 1)):
                raise ParseError(f"{fam}{dict(rest)}: buckets not cumulative")
            if g["count"] is None or g["sum"] is None:
                raise ParseError(f"{fam}{dict(rest)}: no _count or _sum")
            if g["count"] != b[-1][1]:
                raise ParseError(f"{fam}{dict(rest)}: _count {g['count']} != +Inf bucket "
                                 f"{b[-1][1]}")


def absent(got):
    """What of EXPECTED a parsed scrape (types, samples) lacks; everything
    for None."""
    types, samples = got or ({}, [])
    names = set(types) | {s[0] for s in samples}
    out = []
    for what, pattern, want_type in EXPECTED:
        hits = [n for n in names if re.fullmatch(pattern, n)]
        if want_type:
            hits = [n for n in hits if types.get(family_of(n, types)) == want_type]
        if not hits:
            out.append(what)
    if not any(re.fullmatch(REQUEST_FAMILY, s[0]) and
               all(v in s[1].values() for v in REQUEST_LABEL_VALUES) for s in samples):
        out.append(f"a requests sample labelled {'/'.join(REQUEST_LABEL_VALUES)}")
    return out


# The checker's own check: a scrape that must pass every check above, and
# broken ones the parser must refuse (run by every metrics part, and by
# `python3 metrics.py` alone).
GOOD = """\
# HELP keygate_http_requests_total Requests by operation and status.
# TYPE keygate_http_requests_total counter
keygate_http_requests_total{operation_id="verify_key",status="200"} 12
keygate_http_requests_total{operation_id="get_me",status="401"} 1
# HELP keygate_http_request_duration_seconds Request latency.
# TYPE keygate_http_request_duration_seconds histogram
keygate_http_request_duration_seconds_bucket{operation_id="verify_key",le="0.005"} 10
keygate_http_request_duration_seconds_bucket{operation_id="verify_key",le="0.1"} 12
keygate_http_request_duration_seconds_bucket{operation_id="verify_key",le="+Inf"} 12
keygate_http_request_duration_seconds_sum{operation_id="verify_key"} 0.031
keygate_http_request_duration_seconds_count{operation_id="verify_key"} 12
# HELP keygate_auth_cache_hits_total Look-ups answered from the cache.
# TYPE keygate_auth_cache_hits_total counter
keygate_auth_cache_hits_total{cache="api_keys"} 11
# HELP keygate_db_pool_connections Connections of the pool by state.
# TYPE keygate_db_pool_connections gauge
keygate_db_pool_connections{state="idle"} 3
# HELP keygate_invalidations_received_total Invalidation rows applied.
# TYPE keygate_invalidations_received_total counter
keygate_invalidations_received_total{source="notify"} 4
# HELP keygate_invalidation_lag_seconds Commit to local drop.
# TYPE keygate_invalidation_lag_seconds gauge
keygate_invalidation_lag_seconds 0.004
"""
BAD = {
    "no final newline": GOOD.rstrip("\n"),
    "a bad value": GOOD.replace("} 12\n", "} twelve\n", 1),
    "an unterminated label": GOOD.replace('status="200"}', 'status="200}', 1),
    "a duplicate series": GOOD + 'keygate_invalidation_lag_seconds 1\n',
    "a second TYPE": GOOD + "# TYPE keygate_db_pool_connections gauge\n",
    "a negative counter": GOOD.replace('{cache="api_keys"} 11', '{cache="api_keys"} -1'),
    "buckets not cumulative": GOOD.replace('le="0.1"} 12', 'le="0.1"} 9'),
    "no +Inf bucket": GOOD.replace('le="+Inf"', 'le="1"'),
    "split family": GOOD + 'keygate_http_requests_total{status="500"} 1\n',
}


def self_test(tool=None):
    """None when the checker works; else what is wrong with it."""
    try:
        got = parse(GOOD)
    except ParseError as err:
        return f"the good sample is refused: {err}"
    if absent(got):
        return f"the good sample lacks {absent(got)}"
    for what, text in BAD.items():
        try:
            parse(text)
            return f"the parser accepts {what}"
        except ParseError:
            pass
    if tool:
        res = subprocess.run([tool, "check", "metrics"], input=GOOD.encode(),
                             capture_output=True, timeout=60)
        if res.returncode != 0 or (res.stdout + res.stderr).strip():
            return f"promtool refuses the good sample: {(res.stdout + res.stderr)[:300]!r}"
        res = subprocess.run([tool, "check", "metrics"], input=BAD["a bad value"].encode(),
                             capture_output=True, timeout=60)
        if res.returncode == 0:
            return "promtool accepts a bad value"
    return None


def promtool():
    given = os.environ.get("KEYGATE_MULTINODE_PROMTOOL", "").strip()
    if given == "0":
        return None
    return given or shutil.which("promtool")


async def main(ctx, report):
    tool = promtool()
    require = os.environ.get("KEYGATE_MULTINODE_REQUIRE_PROMTOOL", "") == "1"
    if not tool:
        report.check(not require, "promtool: not installed (apt-get install -y prometheus); "
                                  "the parser alone judges the format")
    broken = self_test(tool)
    if broken:
        raise SetupError(f"the metrics checker itself is wrong: {broken}")
    report.note(f"checker self-test: a good scrape passes, {len(BAD)} broken ones are refused"
                f"{' (promtool too)' if tool else ''}")
    # Some traffic every family can count: verify answers 200 on each node.
    for c in ctx.clients:
        await c.post("/v1/verify", {"key": ctx.verifier}, key=ctx.verifier)
    found_per_node = []
    for node, c in enumerate(ctx.clients):
        name = ctx.names[node]
        resp = await c.get("/metrics")
        how = "without a key"
        if resp.status == 401:
            resp = await c.get("/metrics", key=ctx.verifier)
            how = "with the bootstrap key (401 without)"
        ctype = resp.header("content-type") or ""
        if resp.status != 200:
            report.check(False, f"node {name}: GET /metrics answered {resp.status} "
                                f"({ctype or 'no content type'}), 200 Prometheus text wanted")
            found_per_node.append(None)
            continue
        text = resp.body.decode("utf-8", "replace")
        path = os.path.join(os.environ.get("KEYGATE_RELIABILITY_OUT", "."),
                            f"metrics-node-{name.lower()}.txt")
        with open(path, "w") as f:
            f.write(text)
        try:
            types, samples = parse(text)
            parsed, why = True, ""
        except ParseError as err:
            types, samples, parsed, why = {}, [], False, str(err)
        report.check(parsed and ctype.startswith("text/plain"),
                     f"node {name}: GET /metrics {how}: 200 {ctype}, {len(resp.body)} bytes, "
                     f"{len(types)} families, {len(samples)} samples; the text-format parser "
                     f"{'accepts it' if parsed else 'refuses it'}", why)
        if tool:
            res = subprocess.run([tool, "check", "metrics"], input=resp.body,
                                 capture_output=True, timeout=60)
            out = (res.stdout + res.stderr).decode("utf-8", "replace").strip()
            report.check(res.returncode == 0 and not out,
                         f"node {name}: promtool check metrics: exit {res.returncode}, "
                         f"{len(out.splitlines())} lines of findings", out[:400])
        found_per_node.append((types, samples))

    missing = {}
    for node, got in enumerate(found_per_node):
        for what in absent(got):
            missing.setdefault(what, []).append(ctx.names[node])
    report.check(not missing,
                 f"families on every node: {', '.join(w for w, _, _ in EXPECTED)} and requests "
                 f"labelled by operationId and status"
                 + (f"; missing: " + "; ".join(f"{w} on {'/'.join(n)}" for w, n in missing.items())
                    if missing else ""))


if __name__ == "__main__":
    import sys
    problem = self_test(promtool())
    print(problem or f"metrics checker: ok (promtool: {promtool() or 'not installed'})")
    sys.exit(1 if problem else 0)
