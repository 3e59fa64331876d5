"""Runs one part of the reliability suite on one backend:

    python3 suite.py PART BACKEND        # e.g. suite.py race postgres

Exit status 0 when every check of the part passed, 1 when one failed,
2 when the part could not be set up. `run` is the usual entry point.
"""

import asyncio
import importlib
import os
import signal
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import OUT, Report, SetupError  # noqa: E402

PARTS = {
    "kill": "kill",
    "outage": "outage",
    "race": "race",
    "flood": "flood",
    "timeout-commit": "timeout_commit",
}


async def interruptible(coro):
    """Runs a part so that SIGINT, SIGTERM or SIGHUP cancel it: its
    `finally` blocks then stop its servers and drop its databases."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, task.cancel)
    await coro


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in PARTS or sys.argv[2] not in ("sqlite", "postgres"):
        print(f"usage: suite.py {{{'|'.join(PARTS)}}} {{sqlite|postgres}}", file=sys.stderr)
        return 2
    part, backend = sys.argv[1], sys.argv[2]
    os.makedirs(OUT, exist_ok=True)
    module = importlib.import_module(PARTS[part])
    report = Report(part, backend)
    try:
        asyncio.run(interruptible(module.main(backend, report)))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print(f"{report.tag}: interrupted", file=sys.stderr)
        return 130
    except SetupError as err:
        report.check(False, "setup", str(err))
        report.summary()
        return 2
    except Exception:  # a crash of the part is a failure, with its trace
        traceback.print_exc()
        report.check(False, "the part crashed", "see the trace above")
    return report.summary()


if __name__ == "__main__":
    sys.exit(main())
