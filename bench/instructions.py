#!/usr/bin/env python3
"""instructions.py: what counting costs, in instructions: the user-space instructions per request of
sockserv's echo with its counters on (the build) and off (-DSS_STATS=OFF), under valgrind's cachegrind.

CPU time per request on a shared 2-core machine moves by 10% from one round to the next, more than the
counters can cost; an instruction count does not move. Each server runs twice under cachegrind, for N
and 3N requests of loadgen, and the difference over the difference in requests is its count per request
(start-up and shutdown cancel out). The kernel's share of a request (most of it) is not counted: the
ratio printed is of the user-space part, an upper bound of the share in CPU time.

How many events a wake of epoll brings varies from run to run, and the
instructions per request with it (a few per cent in connect50): each pair of runs is repeated
(--repeat, default 3), the two servers alternating, and the median printed with the range.

usage: python3 bench/instructions.py [--build-dir build] [--only pingpong50,connect50] [--modes event,threading]
                                     [--repeat 3]
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402 -- bench/run.py: the -DSS_STATS=OFF build

# loadgen's arguments and the smaller request count of each workload (the larger is 3 times it).
WORKLOADS = {"pingpong50": (["--mode", "pingpong", "--connections", "50", "--size", "64"], 20000),
             "connect50": (["--mode", "connect", "--connections", "50", "--size", "64"], 4000)}


def count(binary, mode, loadgen, args, n):
    """One server under cachegrind for n requests: (instructions, requests served)."""
    argv = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
            binary, "echo", "--mode", mode, "--listen", "tcp://127.0.0.1:0"]
    if mode == "event":
        argv += ["--workers", "1"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = p.stdout.readline()
        m = re.search(r"listening on tcp://127\.0\.0\.1:(\d+)$", ready.strip())
        if not m:
            raise RuntimeError("no ready line from %s: %r" % (binary, ready))
        lg = subprocess.run([loadgen, "--port", m.group(1), "--requests", str(n), "--warmup", "0",
                             "--duration", "600", "--timeout", "60", "--quiet"] + args,
                            capture_output=True, text=True, timeout=900)
        if lg.returncode != 0:
            raise RuntimeError("loadgen failed: %s" % lg.stderr.strip())
        p.send_signal(signal.SIGTERM)
        err = p.communicate(timeout=300)[1]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    ir = re.search(r"I\s+refs:\s+([\d,]+)", err)
    done = re.search(r"stopped: accepted \d+, refused \d+, completed (\d+)", err)
    if not ir or not done:
        raise RuntimeError("no cachegrind total or stop line:\n" + err[-2000:])
    # Ping-pong: requests are lines (loadgen's count); connect: one a connection (the server's).
    served = json.loads(lg.stdout.strip().splitlines()[-1])["requests"] if "pingpong" in args else int(done.group(1))
    return int(ir.group(1).replace(",", "")), served


def per_request(binary, mode, loadgen, args, n):
    (i1, r1), (i2, r2) = count(binary, mode, loadgen, args, n), count(binary, mode, loadgen, args, 3 * n)
    return (i2 - i1) / (r2 - r1)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build-dir", default=os.path.join(run.ROOT, "build"))
    p.add_argument("--only", default="pingpong50,connect50", help="workloads: " + ",".join(WORKLOADS))
    p.add_argument("--modes", default="event,threading")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("instructions.py needs valgrind: apt-get install valgrind")
    loadgen = os.path.join(args.build_dir, "bench", "loadgen")
    on = os.path.join(args.build_dir, "sockserv")
    for path in (loadgen, on):
        if not os.access(path, os.X_OK):
            sys.exit("%s is missing: build first (make)" % path)
    why = run.build_uncounted(args.build_dir)
    if why:
        sys.exit("cannot build the uncounted program: " + why)
    off = os.path.join(args.build_dir, "bench", "uncounted", "sockserv")
    print("| workload | mode | instructions/request, counters on | off | on/off (median) |")
    print("|---|---|---:|---:|---:|")
    for w in args.only.split(","):
        lg_args, n = WORKLOADS[w]
        for mode in args.modes.split(","):
            a, b = [], []
            for _ in range(args.repeat):
                a.append(per_request(on, mode, loadgen, lg_args, n))
                b.append(per_request(off, mode, loadgen, lg_args, n))
            print("| %s | %s | %.0f (%.0f-%.0f) | %.0f (%.0f-%.0f) | %.4f |"
                  % (w, mode, statistics.median(a), min(a), max(a), statistics.median(b), min(b), max(b),
                     statistics.median(a) / statistics.median(b)), flush=True)


if __name__ == "__main__":
    main()
