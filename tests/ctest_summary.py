#!/usr/bin/env python3
"""ctest_summary.py: after ctest (make test, make check-quick): the passed, skipped (with reasons) and failed tests.

ctest counts a skipped test as passed in its "N% tests passed" line and keeps
the reason of a skip in the test's output only. This reads ctest's JUnit report
(ctest --output-junit FILE) and prints:

  summary: 34 passed, 1 skipped, 1 failed (of 36 tests)
    skipped: cli.test_tls: sockserv was built without OpenSSL; install with: ...
    failed: cli.test_signals
    passed, with cases skipped: cli.test_ready: 2 skipped (no IPv6 loopback on this machine)

A skipped test's reason is the last 'SKIPPED: REASON' line of its output, as
tests/unit/harness.c and require() of tests/cli/sockserv_harness.py print it.
The cases skipped inside a passed test come from the C harness's last line
('N passed, S skipped, F failed') and its 'skip NAME (T s): REASON' lines, or
from unittest's 'OK (skipped=N)' and "... skipped 'REASON'" lines.

usage: ctest_summary.py JUNIT_FILE       (exits 0 whatever the tests did)
"""
import re
import sys
import xml.etree.ElementTree as ET

C_TOTALS = re.compile(r"^(\d+) passed, (\d+) skipped, (\d+) failed$", re.M)
C_SKIP = re.compile(r"^skip \S+ \([0-9.]+s\): (.*)$", re.M)
PY_TOTALS = re.compile(r"^(?:OK|FAILED) \((?:.*, )?skipped=(\d+)", re.M)
PY_SKIP = re.compile(r"""\.\.\. skipped (?:'(.*)'|"(.*)")$""", re.M)  # repr(): double quotes when the reason has an apostrophe
SKIPPED_LINE = re.compile(r"^SKIPPED: (.*)$", re.M)


def cases_skipped(output):
    """(how many cases a passed test skipped, their distinct reasons), from its output."""
    totals = C_TOTALS.findall(output)
    if totals:
        return int(totals[-1][1]), list(dict.fromkeys(C_SKIP.findall(output)))
    totals = PY_TOTALS.findall(output)
    if totals:
        return int(totals[-1]), list(dict.fromkeys(a or b for a, b in PY_SKIP.findall(output)))
    return 0, []


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    try:
        tests = ET.parse(argv[1]).getroot().iter("testcase")
    except (OSError, ET.ParseError) as e:
        print("summary: no ctest report to summarize (%s)" % e)
        return 0
    passed, skipped, failed, disabled, partial = [], [], [], [], []
    for t in tests:
        name, status = t.get("name"), t.get("status")
        output = t.findtext("system-out") or ""
        why = t.find("skipped")
        if status == "run":
            passed.append(name)
            n, reasons = cases_skipped(output)
            if n:
                partial.append("%s: %d skipped (%s)" % (name, n, "; ".join(reasons) or "no reason printed"))
        elif status == "disabled":
            disabled.append(name)
        elif status == "notrun" and why is not None and why.get("message", "").startswith("SKIP_"):
            lines = SKIPPED_LINE.findall(output)
            skipped.append("%s: %s" % (name, lines[-1] if lines else "no reason printed"))
        elif status == "notrun":
            # A test ctest could not start (a missing program, say): ctest counts it failed.
            failed.append("%s (did not run: %s)" % (name, why.get("message") if why is not None else "?"))
        else:
            failed.append(name)
    total = len(passed) + len(skipped) + len(failed)
    print("summary: %d passed, %d skipped, %d failed (of %d tests)%s"
          % (len(passed), len(skipped), len(failed), total,
             ", %d disabled" % len(disabled) if disabled else ""))
    for line in skipped:
        print("  skipped: %s" % line)
    for line in failed:
        print("  failed: %s" % line)
    for line in partial:
        print("  passed, with cases skipped: %s" % line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
