#!/usr/bin/env python3
"""smoke.py: the bench smoke test (ctest bench.smoke): the bench tools work, in about a second per run.

Runs bench/loadgen for about a second against `sockserv echo` in threading
and event mode (in one process, and in two worker processes with
--processes 2) and against the raw epoll peer, in each load shape, and checks
every run reports requests and no error. Then checks that loadgen does catch
a corrupted echo, that its TLS client works against `sockserv echo` over
tls:// (ping-pong, then resumed handshakes: no thresholds; reported skipped
when the build has no TLS or the openssl command is missing), and that
bench/run.py works end to end (without pinning, on servers that need no
extra package, writing nothing). Needs only what the build needs plus
python3: no taskset, no libuv, no State Threads, no Go, no stunnel.
bench/plot.py's charts of that run are checked when matplotlib is there
(valid SVG naming the servers, the same bytes when drawn again), and the
note saying why they are not drawn when it is not; that note is checked
in any case with matplotlib hidden.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402 -- bench/run.py, for the certificate and loadgen's TLS check.
import plot  # noqa: E402 -- bench/plot.py, for whether matplotlib is there.

FAILURES = []
PASSED = []
SKIPPED = []


def check(ok, what):
    print("%s: %s" % ("ok" if ok else "FAIL", what), flush=True)
    (PASSED if ok else FAILURES).append(what)


def skip(what):
    print("skipped: %s" % what, flush=True)
    SKIPPED.append(what)


def start(argv):
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    line = proc.stdout.readline().decode(errors="replace")  # the ready line comes first
    m = re.search(r"(?:tcp|tls)://127\.0\.0\.1:(\d+)", line)
    if not m:
        stop(proc)
        raise RuntimeError("%s printed %r, not a ready line" % (argv[0], line))
    return proc, int(m.group(1))


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.wait(10)
    err = proc.stderr.read().decode(errors="replace")
    proc.stdout.close()
    proc.stderr.close()
    return proc.returncode, err


def loadgen(args, port, extra):
    argv = [args.loadgen, "--port", str(port), "--duration", "1", "--warmup", "0.2",
            "--timeout", "20"] + extra
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    results = [json.loads(line) for line in r.stdout.splitlines() if line.startswith('{"loadgen"')]
    if len(results) != 1:
        raise RuntimeError("loadgen %s printed no result: %s" % (extra, r.stdout + r.stderr))
    return r.returncode, results[0], r.stdout + r.stderr


SHAPES = [
    ("ping-pong, 20 connections", ["--connections", "20"]),
    ("pipelined, depth 8", ["--mode", "pipeline", "--connections", "4", "--depth", "8"]),
    ("connect per request", ["--mode", "connect", "--connections", "8"]),
    ("16 KiB lines", ["--connections", "4", "--size", "16384"]),
]


def check_stopped(name, status, err):
    """The program exited 0 on SIGTERM, with its counters and nothing else on stderr."""
    check(status == 0, "%s exits 0 on SIGTERM (got %s)" % (name, status))
    lines = err.strip().splitlines()
    stopped = [l for l in lines if l.startswith("sockserv: stopped:")]
    others = [l for l in lines if not l.startswith("sockserv: stopped:")]
    check(not others, "%s reported no failure on stderr%s" % (name, (": " + "\n".join(others)[-300:]) if others else ""))
    check(len(stopped) == 1 and ", errors 0, accept errors 0," in stopped[0],
          "%s stopped with no error counted (%s)" % (name, stopped[0] if stopped else "no stopped line"))
    return stopped[0] if stopped else ""


def tls_smoke(args, tmp):
    """loadgen's TLS client against sockserv echo over tls://, once: ping-pong,
    then connect per request resuming sessions. True when it ran."""
    library, why = run.loadgen_tls(args.loadgen)
    pki = None
    if not why:
        pki, why = run.make_pki(tmp)
    if why:
        skip("the TLS client against the program: %s" % why)
        return False
    name = "sockserv event over tls://"
    proc, port = start([args.sockserv, "echo", "--mode", "event", "--listen", "tls://127.0.0.1:0",
                        "--tls-cert", pki.cert, "--tls-key", pki.key])
    try:
        rc, res, text = loadgen(args, port, ["--tls", "--connections", "10"])
        tls = res.get("tls") or {}
        ok = rc == 0 and res["errors"] == 0 and res["requests"] > 0 and tls.get("negotiated")
        check(ok, "%s (loadgen on %s), ping-pong: %d requests (%.0f/s), %d errors, negotiated %s"
              % (name, library, res["requests"], res["rps"], res["errors"], tls.get("negotiated") or "nothing"))
        if not ok:
            print(text)
        rc, res, text = loadgen(args, port, ["--tls-resume", "--mode", "connect", "--connections", "4"])
        tls = res.get("tls") or {}
        ok = rc == 0 and res["errors"] == 0 and tls.get("handshakes", 0) > 0 and tls.get("resumed", 0) > 0
        check(ok, "%s, connect per request resuming sessions: %d handshakes, %d resumed, %d errors"
              % (name, tls.get("handshakes", 0), tls.get("resumed", 0), res["errors"]))
        if not ok:
            print(text)
    finally:
        status, err = stop(proc)
    stopped = check_stopped(name, status, err)
    check(stopped.endswith("tls failed 0"), "%s: no failed handshake counted" % name)
    return True


def table_cell(doc, workload, row, column):
    """The text of a cell of run.py's markdown: workload's table, the row of a server, a column; or None."""
    m = re.search(r"^### %s:.*?\n(\|.*?)(?:\n\n|\Z)" % re.escape(workload), doc, re.M | re.S)
    if not m:
        return None
    lines = m.group(1).splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == row and column in head:
            return cells[head.index(column)]
    return None


def cpu_set(text):
    """The CPUs of a /proc list such as "0-1,4"."""
    cpus = set()
    for part in (text or "").split(","):
        if part:
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def unpinned_cpus(results, workload):
    """True if every run of workload in run.py's results had its server and loadgen allowed on
    every CPU this test may use; else what was seen."""
    want = os.sched_getaffinity(0)
    with open(results) as f:
        runs = [r for r in json.load(f)["runs"] if r["workload"] == workload and "failed" not in r]
    seen = sorted({(r["server"], r.get("server_cpus"), r.get("loadgen_cpus")) for r in runs})
    good = runs and all(cpu_set(r.get("server_cpus")) == want and cpu_set(r.get("loadgen_cpus")) == want
                        for r in runs)
    return True if good else "want CPUs %s, got (server, its CPUs, loadgen's): %s" % (sorted(want), seen)


# The charts of the run above and the servers each must name (those of --servers that the workload has).
CHARTS = {"pingpong50.svg": ("event", "threading", "epoll"),
          "procs-connect50.svg": ("event-2proc", "reuseport-2proc"),
          "tlspingpong50.svg": ("event", "threading"),
          "headline.svg": ("sockserv event", "raw epoll (C)")}


def svg_texts(path):
    """The text of every element of an SVG file, or None if it is not one (not XML, or not <svg>)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    if root.tag != "{http://www.w3.org/2000/svg}svg":
        return None
    return {(e.text or "").strip() for e in root.iter()}


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def charts_smoke(tmp, r, tls):
    """bench/run.py's run in tmp (its CompletedProcess r) drew its charts in tmp/perf, or said why not."""
    perf = os.path.join(tmp, "perf")
    note = plot.INSTALL
    if plot.matplotlib_python() is None:
        check(note in r.stderr and not os.path.exists(perf),
              "without matplotlib, bench/run.py draws no chart and says so on stderr (%s)"
              % (r.stderr.strip().splitlines() or ["nothing on stderr"])[-1])
        skip("the charts themselves: matplotlib is missing (%s)" % note)
    else:
        for name, servers in sorted(CHARTS.items()):
            if name.startswith("tls") and not tls:
                continue
            path = os.path.join(perf, name)
            texts = svg_texts(path)
            if texts is None:
                why = "not an SVG file" if os.path.exists(path) else "no such file"
            else:
                why = ", ".join(s for s in servers if s not in texts)
                why = why and why + " not named"
            check(not why, "bench/run.py drew perf/%s, a valid SVG naming %s%s"
                  % (name, ", ".join(servers), ": " + why if why else ""))
        # Drawn again from the same results (plot.py on its own): the same bytes.
        again = os.path.join(tmp, "again")
        p = subprocess.run([sys.executable, os.path.join(HERE, "plot.py"), os.path.join(tmp, "results.json"),
                            again], capture_output=True, text=True, timeout=60)
        drawn = sorted(os.listdir(perf)) if os.path.isdir(perf) else []
        same = p.returncode == 0 and drawn and drawn == sorted(os.listdir(again)) and all(
            file_bytes(os.path.join(perf, f)) == file_bytes(os.path.join(again, f)) for f in drawn)
        check(same, "bench/plot.py on its own draws the same bytes again (%s)%s"
              % (", ".join(drawn), "" if same else ": " + p.stderr[-500:]))
    # matplotlib hidden (a package of that name that fails to import, first
    # on the path of this interpreter and Debian's): no chart, the note, exit 1.
    hide = os.path.join(tmp, "hide", "matplotlib")
    os.makedirs(hide)
    with open(os.path.join(hide, "__init__.py"), "w") as f:
        f.write('raise ImportError("hidden by bench/smoke.py")\n')
    out = os.path.join(tmp, "hidden")
    p = subprocess.run([sys.executable, os.path.join(HERE, "plot.py"), os.path.join(tmp, "results.json"), out],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=os.path.dirname(hide)))
    check(p.returncode == 1 and note in p.stderr and not os.path.exists(out),
          "with matplotlib hidden, bench/plot.py draws nothing, exits 1 and says why (%s)"
          % (p.stderr.strip().splitlines() or ["nothing on stderr"])[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sockserv", required=True)
    p.add_argument("--loadgen", required=True)
    p.add_argument("--epoll-echo", required=True)
    p.add_argument("--build-dir", required=True)
    args = p.parse_args()

    servers = [
        ("sockserv threading", [args.sockserv, "echo", "--mode", "threading", "--listen", "tcp://127.0.0.1:0"]),
        ("sockserv event", [args.sockserv, "echo", "--mode", "event", "--listen", "tcp://127.0.0.1:0"]),
        # What run.py's procs-* workloads run: a supervisor and two workers.
        ("sockserv threading --processes 2", [args.sockserv, "echo", "--mode", "threading", "--processes", "2",
                                              "--listen", "tcp://127.0.0.1:0"]),
        ("sockserv event --processes 2", [args.sockserv, "echo", "--mode", "event", "--workers", "1",
                                          "--processes", "2", "--listen", "tcp://127.0.0.1:0"]),
        ("raw epoll peer", [args.epoll_echo, "0"]),
    ]
    for name, argv in servers:
        proc, port = start(argv)
        try:
            for shape, extra in SHAPES:
                rc, res, text = loadgen(args, port, extra)
                ok = rc == 0 and res["errors"] == 0 and res["requests"] > 0
                check(ok, "%s, %s: %d requests (%.0f/s), %d errors"
                      % (name, shape, res["requests"], res["rps"], res["errors"]))
                if not ok:
                    print(text)
        finally:
            status, err = stop(proc)
        if name.startswith("sockserv"):
            check_stopped(name, status, err)

    # The checking itself: a server that corrupts one read in 50 must be caught.
    proc, port = start([args.epoll_echo, "0", "--corrupt", "50"])
    try:
        rc, res, text = loadgen(args, port, ["--connections", "10"])
    finally:
        stop(proc)
    check(rc == 1 and res["error_kinds"]["mismatch"] > 0 and "mismatch" in text,
          "a corrupted echo is reported (%d mismatches, exit %d)" % (res["error_kinds"]["mismatch"], rc))

    with tempfile.TemporaryDirectory() as tmp:
        tls = tls_smoke(args, tmp)

    # run.py end to end, on what any machine has (and its TLS plumbing when
    # the build has TLS: the same servers over tls://), writing only to a temp dir.
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "PERFORMANCE.md")
        argv = [sys.executable, os.path.join(HERE, "run.py"), "--build-dir", args.build_dir,
                "--rounds", "1", "--duration", "0.5", "--warmup", "0.1",
                "--only", "pingpong50,procs-connect50,tlspingpong50" if tls else "pingpong50,procs-connect50",
                "--servers", "event,threading,epoll,event-2proc,reuseport-2proc", "--quiet-wait", "0",
                "--output", out,
                "--json", os.path.join(tmp, "results.json")]
        t0 = time.monotonic()
        r = subprocess.run(argv, capture_output=True, text=True, timeout=90)
        doc = open(out).read() if os.path.exists(out) else ""
        ok = r.returncode == 0 and "| event |" in doc and "| epoll |" in doc and "bench:results:end" in doc
        # The --processes row and the SO_REUSEPORT peer, their workers' shares measured.
        for row in ("event-2proc", "reuseport-2proc"):
            share = table_cell(doc, "procs-connect50", row, "busiest worker: CPU")
            ok = ok and share is not None and share.endswith("%")
        ok = ok and "SO_REUSEPORT, one of the two listening sockets closed" in doc
        # Pinned (the default: run.py keeps itself on CPU 1), the unpinned
        # workloads' server and loadgen must still get every CPU, not run.py's one.
        unpinned = ok and unpinned_cpus(os.path.join(tmp, "results.json"), "procs-connect50")
        if ok:
            check(unpinned is True, "bench/run.py's unpinned workloads run on every CPU (%s)"
                  % ("yes" if unpinned is True else unpinned))
        if tls:
            ok = ok and "### tlspingpong50" in doc and "Negotiated by every server: TLSv1.3" in doc
        check(ok, "bench/run.py runs and writes its tables (with the --processes 2 and SO_REUSEPORT rows%s) (%.1f s)"
              % (", a TLS workload's too" if tls else "", time.monotonic() - t0))
        if not ok:
            print(r.stdout[-3000:] + r.stderr[-3000:])
        if os.path.exists(os.path.join(tmp, "results.json")):
            charts_smoke(tmp, r, tls)

    print("%d passed, %d failed, %d skipped" % (len(PASSED), len(FAILURES), len(SKIPPED)))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
