"""logs: what the nodes and the primary logged during the parts before it
(it runs before failover, whose outage makes failures legitimate).

- no node failed to write `last_used_at`: three nodes flush the keys they
  saw used, the same rows in any order, so their flush transactions
  deadlock on PostgreSQL (40P01) unless the flush orders its updates or
  retries; a failed flush loses those values;
- no node logged a 500 (`internal error`), whatever part caused it.

The primary's own count of deadlocks and serialization failures is
printed beside them.
"""

import os
import re


def count(path, pattern):
    if not path or not os.path.exists(path):
        return 0
    rx = re.compile(pattern)
    with open(path, errors="replace") as f:
        return sum(1 for line in f if rx.search(line))


async def main(ctx, report):
    flush, internal = [], []
    for name, server in zip(ctx.names, ctx.servers):
        flush.append(count(server.log_path, r"could not write last_used_at"))
        internal.append(count(server.log_path, r"ERROR\s+keygate\S*\] internal error"))
    pg = ctx.pair.primary.log
    deadlocks = count(pg, r"ERROR:\s+deadlock detected")
    serialization = count(pg, r"ERROR:\s+could not serialize access")
    report.note(f"the primary logged {deadlocks} deadlocks and {serialization} serialization "
                f"failures")
    report.check(not any(flush),
                 f"last_used_at flushes that failed, per node A/B/C: "
                 f"{'/'.join(map(str, flush))} (0 wanted; the primary logged {deadlocks} "
                 f"deadlocks)")
    report.check(not any(internal),
                 f"500s (internal error) logged per node A/B/C before the failover: "
                 f"{'/'.join(map(str, internal))} (0 wanted)")
