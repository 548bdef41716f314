#!/usr/bin/env python3
"""run.py: sockserv's side-by-side benchmark: our echo in each strategy against peer servers, interleaved round by round.

Run by `make bench` (see docs/PERFORMANCE.md for what is measured and how to
read it). Python 3 standard library only.

For each workload, every server it concerns runs once per round, in an order
that rotates from round to round; a run starts the server pinned to CPU 0,
runs bench/loadgen pinned to CPU 1 for a warm-up and a measured window, and
samples the server's CPU time (user+sys of the process, its threads and its
children, reaped ones included) and memory from /proc at the window's edges.
A server may be more than one process (stunnel in front of the raw epoll
peer): all of them count. The TLS workloads use a certificate made for the
run with the openssl command, and are skipped (loudly) without TLS in
loadgen or without that command. The medians over the rounds and their
ratios to the peers, checked against the targets of issues 3, 10 and 11, go
into docs/PERFORMANCE.md between the markers, and bench/plot.py draws them
as SVG charts in docs/perf/ (with matplotlib; skipped, with a note, without it).
"""
import argparse
import datetime
import json
import os
import platform
import re
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The Debian package each optional peer needs.
PEER_PACKAGES = {"libuv": "libuv1-dev", "st": "libst-dev", "go": "golang-go", "stunnel": "stunnel4"}
BEGIN = "<!-- bench:results:begin (written by bench/run.py: do not edit by hand) -->"
END = "<!-- bench:results:end -->"
SERVER_CPU, LOAD_CPU = 0, 1
# The CPUs this script may use when it starts (before main() pins it to
# LOAD_CPU): the unpinned workloads' servers and loadgen get all of them.
ALL_CPUS = frozenset(os.sched_getaffinity(0))
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- what runs

class Workload:
    def __init__(self, name, title, args, servers, setup_timeout=30.0, rss_per_conn=False, pinned=True,
                 compare=(), idle_secs=0.0):
        self.name, self.title, self.args, self.servers = name, title, args, servers
        self.setup_timeout = setup_timeout
        self.rss_per_conn = rss_per_conn  # its table shows KiB per connection
        # > 0: the connections then sit idle (open, nothing sent) that long before the
        # memory is sampled; KiB/conn is then an idle connection's, and the busy
        # figure (at the window's end) is shown beside it.
        self.idle_secs = idle_secs
        # False: the server's processes and loadgen share every core, unpinned
        # (a server of several processes needs more than one core).
        self.pinned = pinned
        # (a, b) pairs of servers whose ratios go under the table (no target).
        self.compare = compare
        self.tls = "--tls" in args or "--tls-resume" in args
        # Connect per request over TLS: a handshake per request, the unit of its table.
        self.handshakes = self.tls and args[args.index("--mode") + 1] == "connect"
        self.resume = "--tls-resume" in args

    def connections(self):
        return int(self.args[self.args.index("--connections") + 1])


# Issue 13: the counters' cost. The program built again with -DSS_STATS=OFF
# (no bytes, no durations: build_uncounted), side by side with the default.
UNCOUNTED = ["event-uncounted", "threading-uncounted"]
COUNTING = (("event", "event-uncounted"), ("threading", "threading-uncounted"))

# Source addresses for connect-per-request: a client opening ~30,000
# connections a second to one address:port spends its time searching the
# 28,000 ephemeral ports (all in TIME_WAIT) for a free 4-tuple; spreading over
# 127.0.0.1..16 (loopback, like the rest) removes that client-side cost.
WORKLOADS = [
    Workload("pingpong50", "50 connections, 64-byte lines, ping-pong",
             ["--mode", "pingpong", "--connections", "50", "--size", "64"],
             ["event", "threading", "epoll", "libuv", "st", "py-threading"] + UNCOUNTED,
             compare=COUNTING),
    Workload("pingpong10k", "10,000 concurrent connections, 64-byte ping-pong",
             ["--mode", "pingpong", "--connections", "10000", "--size", "64"],
             ["event", "epoll", "libuv", "st"], setup_timeout=60.0, rss_per_conn=True),
    Workload("connect50", "new connection per request (connect, one line, close), 50 at a time",
             ["--mode", "connect", "--connections", "50", "--size", "64", "--src-addrs", "16"],
             ["event", "threading", "forking", "pool", "epoll", "libuv", "st",
              "py-threading", "py-forking"] + UNCOUNTED,
             compare=COUNTING),
    Workload("msg16k", "10 connections, 16 KiB messages, ping-pong",
             ["--mode", "pingpong", "--connections", "10", "--size", "16384"],
             ["event", "threading", "epoll", "libuv", "st"]),
    Workload("pool50", "pool, 50 connections (64-byte ping-pong, each connection 100 requests then a new one)",
             ["--mode", "pingpong", "--connections", "50", "--size", "64", "--per-conn", "100"],
             ["pool", "threading"]),
    # The cost of setting a connection up and tearing it down, against the
    # minimal C servers of each kind. The client's closed connections pile
    # up in TIME_WAIT up to the kernel's cap, and a run's requests/s depends
    # on where in that cycle it ran: judge on CPU per connection first.
    Workload("conncost", "cost of a connection: connect, one line, close, 50 at a time, vs minimal C servers",
             ["--mode", "connect", "--connections", "50", "--size", "64", "--src-addrs", "16"],
             ["threading", "c-threads", "forking", "c-fork"]),
    # Issue 11: TLS (1.3, TLS_AES_128_GCM_SHA256, X25519, an ECDSA P-256
    # certificate), against Go's crypto/tls and stunnel in front of raw epoll.
    Workload("tlspingpong50", "TLS, 50 connections, 64-byte lines, ping-pong",
             ["--tls", "--mode", "pingpong", "--connections", "50", "--size", "64"],
             ["event", "threading", "go", "stunnel"]),
    Workload("tlsconnect50", "TLS full handshakes: a new connection per request (connect, handshake, one line, "
             "close), 50 at a time",
             ["--tls", "--mode", "connect", "--connections", "50", "--size", "64", "--src-addrs", "16"],
             ["event", "threading", "go", "stunnel"]),
    Workload("tlsresume50", "TLS resumed handshakes: as tlsconnect50, each connection resuming the session "
             "of the one before it in its slot",
             ["--tls-resume", "--mode", "connect", "--connections", "50", "--size", "64", "--src-addrs", "16"],
             ["event", "threading", "go", "stunnel"]),
    Workload("tlsmsg16k", "TLS bulk: 10 connections, 16 KiB lines, ping-pong",
             ["--tls", "--mode", "pingpong", "--connections", "10", "--size", "16384"],
             ["event", "threading", "go", "stunnel"]),
    # Memory of open TLS connections: 10,000 of them (each server and
    # loadgen hold one descriptor per connection, under the limit of 20,000
    # a process; stunnel would hold two, and a thread each: not run here).
    # They ping-pong through the window, then sit idle for 4 s (an event loop
    # trims or parks the stacks of tasks idle for 1 to 2 s) and are sampled.
    Workload("tlsidle10k", "TLS, 10,000 connections open (64-byte ping-pong, then 4 s idle, then sampled)",
             ["--tls", "--mode", "pingpong", "--connections", "10000", "--size", "64"],
             ["event", "go"], setup_timeout=120.0, rss_per_conn=True, idle_secs=4.0),
    # Issue 12: several processes (--processes 2) against one, same mode, on
    # both cores, unpinned: a two-process server needs both, and so does a
    # one-process server with two loops or many threads; loadgen shares them.
    # Judge on CPU per request first (what a request costs wherever it ran),
    # requests/s second (loadgen takes its share of the same two cores).
    # Ping-pong on 50 long-lived connections: the connections are spread
    # once, at connect; connect per request: every request goes through
    # accept, where the processes share (or not) one listening socket.
    Workload("procs-pingpong50", "several processes: 50 connections, 64-byte ping-pong, unpinned",
             ["--mode", "pingpong", "--connections", "50", "--size", "64"],
             ["event-1proc", "event-2proc", "threading-1proc", "threading-2proc", "inherit-2proc",
              "reuseport-2proc"], pinned=False,
             compare=(("event-2proc", "event-1proc"), ("threading-2proc", "threading-1proc"),
                      ("reuseport-2proc", "inherit-2proc"), ("event-2proc", "inherit-2proc"))),
    Workload("procs-connect50", "several processes: new connection per request, 50 at a time, unpinned",
             ["--mode", "connect", "--connections", "50", "--size", "64", "--src-addrs", "16"],
             ["event-1proc", "event-2proc", "threading-1proc", "threading-2proc", "inherit-2proc",
              "reuseport-2proc"], pinned=False,
             compare=(("event-2proc", "event-1proc"), ("threading-2proc", "threading-1proc"),
                      ("reuseport-2proc", "inherit-2proc"), ("event-2proc", "inherit-2proc"))),
]
WORKLOAD_BY_NAME = {w.name: w for w in WORKLOADS}
FORKING = ("forking", "py-forking", "c-fork")  # servers with child processes (and those with workers)
# A run during which other work took more than this share of either core is
# run again (at most --retries times); the last attempt counts.
DISTURBED = 0.10


class Server:
    """How to start a server. kind: ours | peer | cpeer (built by this script) |
    extra (--extra); backend: for stunnel, the plain peer it fronts (argv)."""

    def __init__(self, argv, kind, description, env=None, backend=None, workers=False):
        self.argv, self.kind, self.description = argv, kind, description
        self.env, self.backend = env or {}, backend
        # Worker processes (children of the one started): their CPU counts,
        # and how it is shared between them is reported.
        self.workers = workers


def server_commands(build):
    """name -> Server, for the plain (tcp://) workloads."""
    ss = os.path.join(build, "sockserv")
    uncounted = os.path.join(build, "bench", "uncounted", "sockserv")
    listen = ["--listen", "tcp://127.0.0.1:0"]
    peers = os.path.join(build, "bench", "peers")
    py = [sys.executable, os.path.join(HERE, "peers", "py_echo.py")]
    return {
        "event": Server([ss, "echo", "--mode", "event", "--workers", "1"] + listen, "ours",
                        "sockserv echo --mode event --workers 1 (one loop: the server has one core)"),
        "threading": Server([ss, "echo", "--mode", "threading"] + listen, "ours",
                            "sockserv echo --mode threading"),
        "event-uncounted": Server([uncounted, "echo", "--mode", "event", "--workers", "1"] + listen, "ours",
                                  "as event, built with -DSS_STATS=OFF (bytes and durations not counted)"),
        "threading-uncounted": Server([uncounted, "echo", "--mode", "threading"] + listen, "ours",
                                      "as threading, built with -DSS_STATS=OFF"),
        "forking": Server([ss, "echo", "--mode", "forking"] + listen, "ours",
                          "sockserv echo --mode forking (a child per connection, at most --max-connections)"),
        "pool": Server([ss, "echo", "--mode", "pool"] + listen, "ours",
                       "sockserv echo --mode pool (default: 2 x %d CPUs = %d workers; each request a "
                       "coroutine on one of them, holding none while it waits for input)"
                       % (os.cpu_count() or 1, 2 * (os.cpu_count() or 1))),
        "epoll": Server([os.path.join(peers, "epoll_echo"), "0"], "peer",
                        "bench/peers/epoll_echo.c: raw epoll, one thread, level-triggered"),
        "libuv": Server([os.path.join(peers, "uv_echo"), "0"], "cpeer",
                        "bench/peers/uv_echo.c: libuv %s, one loop" % pkg_version("libuv")),
        "st": Server([os.path.join(peers, "st_echo"), "0"], "cpeer",
                     "bench/peers/st_echo.c: State Threads %s, a green thread per connection, one thread"
                     % pkg_version("st")),
        "c-threads": Server([os.path.join(peers, "thread_echo"), "0"], "peer",
                            "bench/peers/thread_echo.c: minimal C, a detached thread per connection "
                            "(64 KiB stacks, blocking sockets)"),
        "c-fork": Server([os.path.join(peers, "fork_echo"), "0"], "peer",
                         "bench/peers/fork_echo.c: minimal C, a process per connection (reaped by the kernel)"),
        "py-threading": Server(py + ["threading", "0"], "peer",
                               "bench/peers/py_echo.py: Python %s socketserver.ThreadingTCPServer"
                               % platform.python_version()),
        "py-forking": Server(py + ["forking", "0"], "peer",
                             "bench/peers/py_echo.py: Python %s socketserver.ForkingTCPServer"
                             % platform.python_version()),
        # Issue 12: one process or two, same mode, on both cores (unpinned).
        "event-1proc": Server([ss, "echo", "--mode", "event", "--workers", "2"] + listen, "ours",
                              "sockserv echo --mode event --workers 2 (one process, two loops)"),
        "event-2proc": Server([ss, "echo", "--mode", "event", "--workers", "1", "--processes", "2"] + listen,
                              "ours", "sockserv echo --mode event --workers 1 --processes 2 (a supervisor and "
                              "two worker processes of one loop each, sharing the inherited listener)",
                              workers=True),
        "threading-1proc": Server([ss, "echo", "--mode", "threading"] + listen, "ours",
                                  "sockserv echo --mode threading (one process)"),
        "threading-2proc": Server([ss, "echo", "--mode", "threading", "--processes", "2"] + listen, "ours",
                                  "sockserv echo --mode threading --processes 2 (two worker processes)",
                                  workers=True),
        "inherit-2proc": Server([os.path.join(peers, "procs_echo"), "event", "2", "inherit"], "peer",
                                "bench/peers/procs_echo.c: the library's event strategy (one loop) in two "
                                "processes adopting one inherited listening socket", workers=True),
        "reuseport-2proc": Server([os.path.join(peers, "procs_echo"), "event", "2", "reuseport"], "peer",
                                  "bench/peers/procs_echo.c: the same, each process with a listening socket of "
                                  "its own on the same port (SO_REUSEPORT)", workers=True),
    }


def tls_server_commands(build, pki):
    """name -> Server, for the TLS workloads; pki: the run's certificate (a Pki)."""
    ss = os.path.join(build, "sockserv")
    listen = ["--listen", "tls://127.0.0.1:0", "--tls-cert", pki.cert, "--tls-key", pki.key]
    peers = os.path.join(build, "bench", "peers")
    return {
        "event": Server([ss, "echo", "--mode", "event", "--workers", "1"] + listen, "ours",
                        "sockserv echo --mode event --workers 1 --listen tls://... (one loop)"),
        "threading": Server([ss, "echo", "--mode", "threading"] + listen, "ours",
                            "sockserv echo --mode threading --listen tls://..."),
        "go": Server([os.path.join(peers, "tls_echo"), pki.cert, pki.key, "0"], "cpeer",
                     "bench/peers/tls_echo.go: Go %s crypto/tls, a goroutine per connection, GOMAXPROCS=1"
                     % tool_version(["go", "version"], r"go(\d[\w.]*)"),
                     env={"GOMAXPROCS": "1"}),
        "stunnel": Server(None, "cpeer",
                          "stunnel %s (a thread per connection) in front of bench/peers/epoll_echo; "
                          "both processes' CPU and memory are the server's"
                          % tool_version([stunnel_program() or "stunnel4", "-version"], r"stunnel (\S+)"),
                          backend=[os.path.join(peers, "epoll_echo"), "0"]),
    }


def stunnel_program():
    """stunnel's path (Debian's stunnel4 package names it both ways), or None."""
    return shutil.which("stunnel4") or shutil.which("stunnel")


# A loadgen core at least this busy may be what limits the rate (TLS tables mark it).
LOADGEN_BOUND = 0.90
# The share of resumed handshakes below which a resumption run is flagged.
RESUMED_MIN = 0.99

# Targets of issues 3, 10 and 11. kind "ratio": metric(a) / metric(b)
# compared with the bound; kind "abs": metric(a) compared with the bound;
# kind "all": metric of every server of the workload compared with the bound.
TARGETS = [
    ("pingpong50", "ratio", "event", "st", "rps", ">=", 1.0, "event requests/s >= State Threads"),
    ("pingpong50", "ratio", "event", "st", "cpu_us", "<=", 1.0, "event CPU/request <= State Threads"),
    ("pingpong50", "ratio", "threading", "py-threading", "rps", ">=", 1.5,
     "threading requests/s >= 1.5x Python ThreadingTCPServer"),
    ("pingpong50", "ratio", "threading", "py-threading", "cpu_us", "<=", 0.6,
     "threading CPU/request <= 0.6x Python ThreadingTCPServer"),
    ("pingpong10k", "ratio", "event", "epoll", "rps", ">=", 0.9, "event requests/s >= 0.9x raw epoll"),
    ("pingpong10k", "abs", "event", None, "rss_per_conn_kib", "<=", 10.0, "event RSS <= 10 KiB per connection"),
    ("connect50", "ratio", "event", "epoll", "rps", ">=", 1.0, "event requests/s >= raw epoll"),
    ("connect50", "ratio", "threading", "py-threading", "rps", ">=", 1.5,
     "threading requests/s >= 1.5x Python threading"),
    ("connect50", "ratio", "forking", "py-forking", "rps", ">=", 10.0,
     "forking requests/s >= 10x Python ForkingTCPServer"),
    ("msg16k", "ratio", "event", "st", "mbps", ">=", 0.9, "event MB/s >= 0.9x State Threads"),
    ("pool50", "ratio", "pool", "threading", "rps", ">=", 0.9, "pool requests/s >= 0.9x threading"),
    ("pool50", "threads", "pool", "threading", "threads", "<=", None, "pool thread count bounded"),
    # Issue 10: the cost of a connection.
    ("conncost", "ratio", "threading", "c-threads", "cpu_us", "<=", 1.1,
     "threading CPU/connection <= 1.1x minimal C threads"),
    ("conncost", "ratio", "threading", "c-threads", "rps", ">=", 0.9,
     "threading connections/s >= 0.9x minimal C threads"),
    ("conncost", "ratio", "forking", "c-fork", "rps", ">=", 0.95,
     "forking connections/s >= 0.95x minimal C fork"),
    # Issue 11: TLS, against Go's crypto/tls (one goroutine per connection, GOMAXPROCS=1).
    ("tlspingpong50", "ratio", "event", "go", "rps", ">=", 1.0, "TLS event requests/s >= Go"),
    ("tlspingpong50", "ratio", "event", "go", "cpu_us", "<=", 0.8, "TLS event CPU/request <= 0.8x Go"),
    ("tlsconnect50", "ratio", "event", "go", "cpu_hs_us", "<=", 1.0, "TLS event CPU/full handshake <= Go"),
    ("tlsmsg16k", "ratio", "event", "go", "mbps", ">=", 0.95, "TLS event MB/s >= 0.95x Go"),
    ("tlsidle10k", "abs", "event", None, "rss_per_conn_kib", "<=", 16.0, "TLS event RSS <= 16 KiB per idle connection"),
    # Issue 13: what the counters (bytes, the duration histogram) cost.
    ("pingpong50", "ratio", "event", "event-uncounted", "cpu_us", "<=", 1.02,
     "counters on: event CPU/request <= 1.02x off"),
    ("pingpong50", "ratio", "threading", "threading-uncounted", "cpu_us", "<=", 1.02,
     "counters on: threading CPU/request <= 1.02x off"),
    ("connect50", "ratio", "event", "event-uncounted", "cpu_us", "<=", 1.02,
     "counters on: event CPU/request <= 1.02x off"),
    ("connect50", "ratio", "threading", "threading-uncounted", "cpu_us", "<=", 1.02,
     "counters on: threading CPU/request <= 1.02x off"),
    # Not a target of the issue: the check that resumed handshakes were measured.
    ("tlsresume50", "all", None, None, "resumed_share", ">=", RESUMED_MIN,
     "every server resumed >= 99% of the handshakes"),
]

METRIC_NAMES = {"rps": "requests/s", "cpu_us": "CPU/request", "mbps": "MB/s",
                "rss_per_conn_kib": "KiB/connection", "threads": "threads"}


# ---------------------------------------------------------------- helpers

def log(msg):
    print(msg, flush=True)


def pkg_version(name):
    if not shutil.which("pkg-config"):
        return "?"
    r = subprocess.run(["pkg-config", "--modversion", name], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else "?"


def build_c_peers(build, wanted):
    """Compile the peers that need Debian packages; returns {name: reason} for
    those that cannot be built (they are skipped, loudly)."""
    missing = {}
    out = os.path.join(build, "bench", "peers")
    os.makedirs(out, exist_ok=True)
    cc = os.environ.get("CC") or "cc"
    flags = ["-std=c11", "-D_GNU_SOURCE", "-O2", "-g", "-Wall", "-Wextra", "-Wshadow",
             "-Wstrict-prototypes", "-Wmissing-prototypes"]
    for name, src, pkg, deb in (("libuv", "uv_echo.c", "libuv", PEER_PACKAGES["libuv"]),
                                ("st", "st_echo.c", "st", PEER_PACKAGES["st"])):
        if name not in wanted:
            continue
        source = os.path.join(HERE, "peers", src)
        binary = os.path.join(out, src[:-2])
        have_pc = shutil.which("pkg-config") and subprocess.run(
            ["pkg-config", "--exists", pkg]).returncode == 0
        if not have_pc:
            missing[name] = "%s is not installed: apt-get install %s" % (deb, deb)
            continue
        if os.path.exists(binary) and os.path.getmtime(binary) >= os.path.getmtime(source):
            continue
        pc = subprocess.run(["pkg-config", "--cflags", "--libs", pkg], capture_output=True, text=True)
        cmd = [cc] + flags + ["-o", binary, source] + pc.stdout.split()
        log("building the %s peer: %s" % (name, " ".join(shlex.quote(c) for c in cmd)))
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stdout + r.stderr)
            missing[name] = "could not be built (%s)" % (r.stderr.strip().splitlines() or ["?"])[-1]
    if wanted & set(UNCOUNTED):
        why = build_uncounted(build)
        if why:
            missing.update({name: why for name in UNCOUNTED})
    if "go" in wanted:
        why = build_go_peer(build)
        if why:
            missing["go"] = why
    if "stunnel" in wanted and not stunnel_program():
        missing["stunnel"] = "stunnel is not installed: apt-get install %s" % PEER_PACKAGES["stunnel"]
    return missing


def build_uncounted(build):
    """The program again, with -DSS_STATS=OFF and the build's type and C
    flags, in BUILD/bench/uncounted (again when a source is newer: cmake
    knows); None, or why it cannot be."""
    out = os.path.join(build, "bench", "uncounted")
    cache = {}
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                m = re.match(r"(CMAKE_BUILD_TYPE|CMAKE_C_FLAGS):STRING=(.*)$", line.rstrip("\n"))
                if m:
                    cache[m.group(1)] = m.group(2)
    except OSError as e:
        return "no CMake build in %s (%s)" % (build, e)
    configure = ["cmake", "-S", ROOT, "-B", out, "-DSS_STATS=OFF",
                 "-DCMAKE_BUILD_TYPE=" + cache.get("CMAKE_BUILD_TYPE", ""),
                 "-DCMAKE_C_FLAGS=" + cache.get("CMAKE_C_FLAGS", "")]
    for cmd in (configure, ["cmake", "--build", out, "--target", "sockserv_cli", "-j", str(os.cpu_count() or 1)]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stdout + r.stderr)
            return "the -DSS_STATS=OFF build failed (%s)" % " ".join(cmd[:3])
    return None


def build_go_peer(build):
    """Build bench/peers/tls_echo.go with `go build` into the build directory
    (again when the source is newer); None, or why it cannot be."""
    if not shutil.which("go"):
        return "go is not installed: apt-get install %s" % PEER_PACKAGES["go"]
    source = os.path.join(HERE, "peers", "tls_echo.go")
    out = os.path.join(build, "bench", "peers")
    os.makedirs(out, exist_ok=True)
    binary = os.path.join(out, "tls_echo")
    if os.path.exists(binary) and os.path.getmtime(binary) >= os.path.getmtime(source):
        return None
    # Standard library only: no module, nothing to download. The build cache
    # goes in the build directory unless one is set: no HOME needed.
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="")
    env.setdefault("GOCACHE", os.path.join(build, "bench", "go-cache"))
    cmd = ["go", "build", "-o", binary, source]
    log("building the go peer: %s" % " ".join(shlex.quote(c) for c in cmd))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=out)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        return "could not be built (%s)" % (r.stderr.strip().splitlines() or ["?"])[-1]
    return None


def tool_version(argv, pattern):
    """The version a program prints (the first group of pattern), or "?"."""
    if not shutil.which(argv[0]):
        return "?"
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    m = re.search(pattern, r.stdout + r.stderr)
    return m.group(1) if m else "?"


class Pki:
    """The run's certificate: an ECDSA P-256 key and a self-signed certificate
    for 127.0.0.1, made by the openssl command in a temporary directory that
    every TLS server reads them from (and stunnel's configuration goes in)."""

    def __init__(self, directory):
        self.dir = directory
        self.cert = os.path.join(directory, "cert.pem")
        self.key = os.path.join(directory, "key.pem")


def make_pki(directory):
    """(Pki, None), or (None, why the TLS workloads cannot run)."""
    if not shutil.which("openssl"):
        return None, "the openssl command, which makes the certificate, is missing: apt-get install openssl"
    pki = Pki(directory)
    cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
           "-keyout", pki.key, "-out", pki.cert, "-days", "7", "-subj", "/CN=127.0.0.1",
           "-addext", "subjectAltName=IP:127.0.0.1"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return None, "openssl could not make the certificate (%s)" % (r.stderr.strip().splitlines() or ["?"])[-1]
    return pki, None


def loadgen_tls(loadgen):
    """(the TLS library loadgen has, None), or (None, why it has none and what to do)."""
    r = subprocess.run([loadgen, "--features"], capture_output=True, text=True)
    line = r.stdout.strip()
    if r.returncode != 0 or not line.startswith("tls:"):
        return None, "%s predates its TLS client: run `make`" % loadgen
    if line.startswith("tls: no"):
        return None, "bench/loadgen was " + line[len("tls: no ("):].rstrip(")")
    return line[len("tls: "):], None


class LineReader:
    """Lines from a pipe, each wait bounded by a deadline."""

    def __init__(self, f):
        self.fd = f.fileno()
        self.buf = b""
        self.eof = False

    def readline(self, deadline):
        while b"\n" not in self.buf:
            if self.eof:
                line, self.buf = self.buf, b""
                return line.decode(errors="replace") or None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no output in time")
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    self.eof = True
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace")


# ---------------------------------------------------------------- /proc

def read_stat(pid):
    """(own ticks, reaped children's ticks, threads) of a process."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()
    # rest[i] is field i+3 of proc(5): utime 14, stime 15, cutime 16, cstime 17, num_threads 20.
    return int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14]), int(rest[17])


def descendants(pid):
    """Every live descendant of pid (children files if the kernel has them, else a /proc scan)."""
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for k in kids.get(p, []):
            out.append(k)
            todo.append(k)
    return out


def core_ticks(cpu):
    """(busy, softirq+irq) ticks of one CPU from /proc/stat (cpu None: of all of them)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu " if cpu is None else "cpu%d " % cpu):
                v = [int(x) for x in line.split()[1:]]
                # user nice system idle iowait irq softirq steal ...
                return sum(v[:8]) - v[3] - v[4], v[5] + v[6]
    return 0, 0


def cpu_seconds(pid, children):
    """User+sys seconds of pid, its threads, the children it reaped and (children:
    True) its live descendants."""
    for _ in range(10):
        own, reaped, _ = read_stat(pid)
        total = 0
        for k in (descendants(pid) if children else ()):
            try:
                kown, kreaped, _ = read_stat(k)
            except (OSError, ValueError, IndexError):
                continue
            total += kown + kreaped
        own2, reaped2, _ = read_stat(pid)
        if reaped2 == reaped:  # no child was reaped while we looked
            return (own2 + reaped2 + total) / CLK_TCK
    return (own2 + reaped2 + total) / CLK_TCK


def status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def memory(pid, children):
    """(RSS KiB of pid and (children: True) its descendants, VmHWM KiB of pid,
    threads, processes)."""
    rss = status_kib(pid, "VmRSS")
    hwm = status_kib(pid, "VmHWM")
    threads = read_stat(pid)[2]
    procs = 1
    for k in (descendants(pid) if children else ()):
        try:
            rss += status_kib(k, "VmRSS")
            threads += read_stat(k)[2]
            procs += 1
        except (OSError, ValueError, IndexError):
            pass
    return rss, hwm, threads, procs


def group_cpu(pids, children):
    """cpu_seconds() of a server that is several processes, added up."""
    return sum(cpu_seconds(p, children) for p in pids)


def group_user_cpu(pids):
    """User seconds of a server's processes (their threads and reaped children
    included): the share of its CPU spent outside the kernel."""
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        rest = s[s.rindex(")") + 2:].split()
        total += int(rest[11]) + int(rest[13])  # utime, cutime (proc(5) fields 14, 16)
    return total / CLK_TCK


def worker_ticks(pid):
    """{child pid: its ticks, its threads' and its own descendants'}: the CPU of each
    worker process of a server started as pid."""
    out = {}
    for k in children_pids(pid):
        try:
            own, reaped, _ = read_stat(k)
            out[k] = own + reaped + sum(read_stat(d)[0] for d in descendants(k))
        except (OSError, ValueError, IndexError):
            pass
    return out


def children_pids(pid):
    """The live children of pid (from /proc/PID/task/*/children when the kernel has it)."""
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids += [int(x) for x in f.read().split()]
        return kids
    except OSError:
        return [d for d in descendants(pid) if read_ppid(d) == pid]


def read_ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        return int(s[s.rindex(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def worker_shares(before, after):
    """Each worker's share of the workers' CPU in the window, largest first
    (workers that exist at both ends)."""
    used = [after[k] - before[k] for k in after if k in before]
    total = sum(used)
    return sorted((u / total for u in used), reverse=True) if total > 0 else []


# What bench/peers/procs_echo prints for each worker at exit (sockserv's
# supervisor prints one stop line for all its workers: no per-worker count).
WORKER_LINE = re.compile(r"^procs_echo: worker (\d+): accepted (\d+),", re.M)


def accept_shares(stderr):
    """Each worker's share of the connections accepted (from its exit line), largest first."""
    counts = [int(m.group(2)) for m in WORKER_LINE.finditer(stderr)]
    total = sum(counts)
    return sorted((c / total for c in counts), reverse=True) if total > 0 and len(counts) > 1 else []


def allowed_cpus(pid):
    """The CPUs pid may run on, as /proc/PID/status lists them ("0-1"), or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Cpus_allowed_list:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def group_memory(pids, children):
    """memory() of a server that is several processes, each figure added up."""
    parts = [memory(p, children) for p in pids]
    return tuple(sum(v) for v in zip(*parts))


class Sampler(threading.Thread):
    """Peaks of memory, threads and processes while the window runs."""

    def __init__(self, pids, children):
        super().__init__(daemon=True)
        self.pids, self.children = pids, children
        self.stop = threading.Event()
        self.rss = self.threads = self.procs = 0

    def take(self):
        try:
            rss, _, threads, procs = group_memory(self.pids, self.children)
        except (OSError, ValueError, IndexError):
            return
        self.rss = max(self.rss, rss)
        self.threads = max(self.threads, threads)
        self.procs = max(self.procs, procs)

    def run(self):
        while not self.stop.wait(0.1):
            self.take()


# ---------------------------------------------------------------- one run

def pin(cpu, argv, pinned):
    """argv on one CPU (pinned), or on every CPU this script was given at start:
    a child inherits the script's affinity, and main() keeps the script on
    LOAD_CPU, so an unpinned server or loadgen would otherwise share that one
    core."""
    if pinned:
        return ["taskset", "-c", str(cpu)] + argv
    if os.sched_getaffinity(0) != ALL_CPUS and shutil.which("taskset"):
        return ["taskset", "-c", ",".join(str(c) for c in sorted(ALL_CPUS))] + argv
    return argv


def launch(argv, pinned, env=None):
    """A server process on the server's core, in a session of its own; its stderr in a temporary file."""
    err = tempfile.TemporaryFile()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **(env or {}))
    proc = subprocess.Popen(pin(SERVER_CPU, argv, pinned), stdout=subprocess.PIPE, stderr=err,
                            stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    return proc, err


def read_ready(proc):
    """(port, line) from the ready line: listening on tcp:// or tls://127.0.0.1:PORT."""
    reader = LineReader(proc.stdout)
    deadline = time.monotonic() + 15
    while True:
        line = reader.readline(deadline)
        if line is None:
            raise RuntimeError("exited before its ready line")
        m = re.search(r"(?:tcp|tls)://127\.0\.0\.1:(\d+)", line)
        if m:
            return int(m.group(1)), line.strip()


class Running:
    """A server started for a run: its processes (every one counts as the
    server; the one loadgen connects to first), its port and ready line."""

    def __init__(self):
        self.procs, self.errs = [], []
        self.port, self.ready = None, ""

    def add(self, proc, err, front=False):
        at = 0 if front else len(self.procs)
        self.procs.insert(at, proc)
        self.errs.insert(at, err)

    def pids(self):
        return [p.pid for p in self.procs]

    def stop(self):
        """Stop every process, the front one first; the front one's exit status."""
        statuses = [stop_server(p) for p in self.procs]
        return statuses[0] if statuses else None

    def stderr(self):
        """What the processes wrote to stderr (the temporary files are closed)."""
        text = []
        for err in self.errs:
            err.seek(0)
            text.append(err.read().decode(errors="replace").strip())
            err.close()
        self.errs = []
        return "\n".join(t for t in text if t)


def start_server(server, pinned, pki):
    """A Running server (stunnel: the peer it fronts, then stunnel)."""
    running = Running()
    try:
        if server.backend:
            start_stunnel(running, server, pinned, pki)
        else:
            proc, err = launch(server.argv, pinned, server.env)
            running.add(proc, err)
            running.port, running.ready = read_ready(proc)
    except Exception as e:
        running.stop()
        raise RuntimeError("server %s did not start: %s: %s" % ((server.argv or ["stunnel"])[0], e,
                                                                running.stderr()[-500:]))
    return running


# stunnel's configuration: TLS on `port`, the plain bytes to the peer on
# `backend`; warnings only (a line per connection would cost CPU).
STUNNEL_CONF = """; written by bench/run.py for one run
foreground = yes
pid =
syslog = no
debug = warning

[echo]
accept = 127.0.0.1:%(port)d
connect = 127.0.0.1:%(backend)d
cert = %(cert)s
key = %(key)s
"""


def start_stunnel(running, server, pinned, pki):
    """The plain peer (server.backend), then stunnel on a free loopback port in front of it."""
    proc, err = launch(server.backend, pinned)
    running.add(proc, err)
    backend, backend_ready = read_ready(proc)
    with socket.socket() as probe:  # a free port: the kernel picks one, stunnel takes it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf = os.path.join(pki.dir, "stunnel-%d.conf" % port)
    with open(conf, "w") as f:
        f.write(STUNNEL_CONF % {"port": port, "backend": backend, "cert": pki.cert, "key": pki.key})
    proc, err = launch([stunnel_program(), conf], pinned)
    running.add(proc, err, front=True)
    wait_listening(proc, port, time.monotonic() + 15)
    running.port = port
    running.ready = "stunnel on tls://127.0.0.1:%d in front of %s" % (port, backend_ready)


def wait_listening(proc, port, deadline):
    """Until something listens on 127.0.0.1:port (from /proc/net/tcp: no probe connection)."""
    want = "0100007F:%04X" % port
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("exited with status %s" % proc.returncode)
        with open("/proc/net/tcp") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 3 and fields[1] == want and fields[3] == "0A":  # 0A: LISTEN
                    return
        time.sleep(0.02)
    raise RuntimeError("not listening on port %d in time" % port)


def stop_server(proc):
    """SIGTERM, then SIGKILL for anything of its process group still there."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # its group: leftover forked children
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.wait(10)
    if proc.stdout:
        proc.stdout.close()
    return proc.returncode


def run_once(args, workload, name, server, round_no):
    pinned = args.pinned and workload.pinned
    kids = name in FORKING or server.workers  # only then is /proc scanned for descendants
    running = start_server(server, pinned, args.pki)
    pids = running.pids()
    lg = None
    sampler = Sampler(pids, kids)
    try:
        time.sleep(0.2)
        rss_idle = group_memory(pids, kids)[0]
        lg_argv = [args.loadgen, "--port", str(running.port), "--duration", str(args.duration),
                   "--warmup", str(args.warmup), "--setup-timeout", str(workload.setup_timeout),
                   "--hold", "--label", "%s/%s" % (workload.name, name)] + workload.args
        lg = subprocess.Popen(pin(LOAD_CPU, lg_argv, pinned), stdout=subprocess.PIPE,
                              stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        reader = LineReader(lg.stdout)
        deadline = time.monotonic() + workload.setup_timeout + args.warmup + args.duration + 60
        cpu0 = cpu1 = None
        user0 = user1 = 0.0
        cpus = (None, None)
        workers0 = workers1 = {}
        mem_end = mem_busy = (0, 0, 0, 0)
        result = None
        while True:
            line = reader.readline(deadline)
            if line is None:
                break
            if line.startswith("# window start"):
                core0, lcore0, all0 = core_ticks(SERVER_CPU), core_ticks(LOAD_CPU), core_ticks(None)
                me0 = time.process_time()
                cpu0 = group_cpu(pids, kids)
                user0 = group_user_cpu(pids)
                cpus = (allowed_cpus(pids[0]), allowed_cpus(lg.pid))
                if server.workers:
                    workers0 = worker_ticks(pids[0])
                sampler.start()
            elif line.startswith("# window end"):
                cpu1 = group_cpu(pids, kids)
                user1 = group_user_cpu(pids)
                if server.workers:
                    workers1 = worker_ticks(pids[0])
                core1, lcore1, all1 = core_ticks(SERVER_CPU), core_ticks(LOAD_CPU), core_ticks(None)
                me1 = time.process_time()
                sampler.take()
                mem_end = mem_busy = group_memory(pids, kids)
                if workload.idle_secs:
                    time.sleep(workload.idle_secs)
                    mem_end = group_memory(pids, kids)
                sampler.stop.set()
                lg.stdin.write(b"\n")
                lg.stdin.flush()
            elif line.startswith('{"loadgen"'):
                result = json.loads(line)
        lg.wait(30)
        lg_err = lg.stderr.read().decode(errors="replace").strip()
    finally:
        sampler.stop.set()
        if lg and lg.poll() is None:
            lg.kill()
            lg.wait()
        status = running.stop()
    server_err = running.stderr()
    if result is None or cpu0 is None or cpu1 is None:
        raise RuntimeError("loadgen gave no result: %s" % lg_err[-500:])
    req = result["requests"]
    secs = result["seconds"]
    client_cpu = result["client_cpu_seconds"]
    tls = result.get("tls") or {}
    hs = tls.get("handshakes", 0)  # completed in the window
    rss_end = mem_end[0]
    core_busy = (core1[0] - core0[0]) / CLK_TCK
    core_irq = (core1[1] - core0[1]) / CLK_TCK
    # CPU 1 runs loadgen and this script; anything else there is others' load.
    load_other = ((lcore1[0] - lcore0[0]) - (lcore1[1] - lcore0[1])) / CLK_TCK \
        - client_cpu - (me1 - me0)
    # Unpinned: every core's busy time, and what of it was neither the
    # server, loadgen, this script nor the network stack's softirq work.
    all_busy = (all1[0] - all0[0]) / CLK_TCK
    all_other = all_busy - (all1[1] - all0[1]) / CLK_TCK - (cpu1 - cpu0) - client_cpu - (me1 - me0)
    return {
        "workload": workload.name, "server": name, "round": round_no,
        "rps": result["rps"], "mbps": result["mb_per_s"], "requests": req,
        "p50_us": result["latency_us"]["p50"], "p99_us": result["latency_us"]["p99"],
        "p999_us": result["latency_us"]["p999"],
        "errors": result["errors"], "error_kinds": result["error_kinds"],
        "cpu_s": cpu1 - cpu0,
        "cpu_us": (cpu1 - cpu0) / req * 1e6 if req else None,
        # The user-space part (live children's not read: forking servers have none here).
        "cpu_user_us": (user1 - user0) / req * 1e6 if req and not kids else None,
        "cpu_util": (cpu1 - cpu0) / secs if secs else None,
        "client_cpu_util": client_cpu / secs if secs else None,
        "client_cpu_us": client_cpu / req * 1e6 if req else None,
        # TLS: handshakes and the CPU each took, the server's and loadgen's.
        "tls_negotiated": tls.get("negotiated"), "handshakes": hs, "resumed": tls.get("resumed"),
        "hs_per_s": tls.get("handshakes_per_s") if hs else None,
        "resumed_share": tls["resumed"] / hs if hs else None,
        "cpu_hs_us": (cpu1 - cpu0) / hs * 1e6 if hs else None,
        "client_cpu_hs_us": client_cpu / hs * 1e6 if hs else None,
        # Everything CPU 0 did in the window: the server, the network stack's
        # softirq work done there (not charged to any process), and any other
        # task that ran there (others' load: shown so a disturbed run shows).
        "core_us": core_busy / req * 1e6 if req and pinned else None,
        "core_hs_us": core_busy / hs * 1e6 if hs and pinned else None,
        "core_softirq_util": core_irq / secs if secs and pinned else None,
        "core_other_util": max(0.0, core_busy - core_irq - (cpu1 - cpu0)) / secs if secs and pinned else None,
        "load_core_other_util": max(0.0, load_other) / secs if secs and pinned else None,
        "all_cores_us": all_busy / req * 1e6 if req and not pinned else None,
        "all_other_util": max(0.0, all_other) / secs if secs and not pinned else None,
        "worker_shares": worker_shares(workers0, workers1),
        "accept_shares": accept_shares(server_err),
        "ready_line": running.ready,
        # Where the server and loadgen were allowed to run (Cpus_allowed_list).
        "server_cpus": cpus[0], "loadgen_cpus": cpus[1],
        "rss_idle_kib": rss_idle, "rss_end_kib": rss_end,
        "rss_peak_kib": max(sampler.rss, rss_end), "hwm_kib": mem_end[1],
        "threads": max(sampler.threads, mem_end[2]), "procs": max(sampler.procs, mem_end[3]),
        "rss_per_conn_kib": (rss_end - rss_idle) / workload.connections(),
        "rss_busy_per_conn_kib": (mem_busy[0] - rss_idle) / workload.connections(),
        "server_stderr_lines": len(server_err.splitlines()) if server_err else 0,
        "server_stderr_tail": server_err[-300:], "loadgen_stderr": lg_err[-300:],
        "exit_status": status,
    }


QUEUED, QUEUED_TRIALS = 100, 5  # connections queued per trial, trials of each kind


def queued_resets_note(q):
    """The sentence under procs-connect50 about queued_resets()' trials."""
    def part(counts):
        return "%d of %d reset (trials: %s)" % (sum(counts), q["connections"] * len(counts),
                                               ", ".join(str(c) for c in counts))
    return ("A worker leaving (as at a reload) with %d connections queued and none accepted, %d trials: "
            "SO_REUSEPORT, one of the two listening sockets closed: **%s**; one inherited socket, one "
            "process's descriptor of it closed: %s (`queued_resets()` in bench/run.py; "
            "net.ipv4.tcp_migrate_req was %s: with 1, Linux 5.14 and later move a closed SO_REUSEPORT "
            "listener's queued connections to another listener of its group instead)."
            % (q["connections"], len(q["reuseport"]), part(q["reuseport"]), part(q["inherit"]),
               q.get("migrate_req", "?")))


def migrate_req():
    """net.ipv4.tcp_migrate_req of this network namespace ("0", "1"), or "absent" (before Linux 5.14)."""
    try:
        with open("/proc/sys/net/ipv4/tcp_migrate_req") as f:
            return f.read().strip()
    except OSError:
        return "absent"


def queued_resets(reuseport, n=QUEUED):
    """What a worker leaving does to the connections queued for it: two listening
    sockets on one port with SO_REUSEPORT (or one socket and a duplicate of its
    descriptor, as inherited by two workers), n connections made and a line sent
    on each, none accepted, then one socket (or one descriptor) closed. Returns
    how many of the n connections were reset."""
    def listener(port=0):
        s = socket.socket()
        if reuseport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", port))
        s.listen(128)
        return s
    first = listener()
    port = first.getsockname()[1]
    second = listener(port) if reuseport else first.dup()
    clients = []
    try:
        for i in range(n):
            c = socket.socket()
            clients.append(c)
            c.bind(("127.0.0.%d" % (1 + i % 16), 0))  # 127.0.0.1..16, as --src-addrs 16
            c.connect(("127.0.0.1", port))
            c.sendall(b"x\n")
        time.sleep(0.1)
        second.close()  # the old worker's socket (or its descriptor) goes
        time.sleep(0.1)
        reset = 0
        # A reset connection is readable (the error, or an end of file); one
        # still queued is not: the other worker would accept it.
        for c in select.select(clients, [], [], 0)[0]:
            try:
                c.setblocking(False)
                if c.recv(16) == b"":
                    reset += 1
            except ConnectionResetError:
                reset += 1
            except BlockingIOError:
                pass
        return reset
    finally:
        for c in clients:
            c.close()
        first.close()
        second.close()


def machine_busy(seconds=0.5):
    """The busiest CPU's busy share over a short look (nothing of ours runs then)."""
    before = [core_ticks(c) for c in (SERVER_CPU, LOAD_CPU)]
    time.sleep(seconds)
    after = [core_ticks(c) for c in (SERVER_CPU, LOAD_CPU)]
    return max((a[0] - b[0]) / CLK_TCK / seconds for a, b in zip(after, before))


def wait_for_quiet(args):
    """Before a run, wait (at most --quiet-wait seconds) until other work leaves the cores alone."""
    if not args.pinned or args.quiet_wait <= 0:
        return
    deadline = time.monotonic() + args.quiet_wait
    busy = machine_busy()
    if busy <= DISTURBED:
        return
    log("    the machine is busy (%.0f%% of a core): waiting up to %.0f s for it to calm down"
        % (busy * 100, args.quiet_wait))
    while time.monotonic() < deadline:
        time.sleep(1)
        busy = machine_busy()
        if busy <= DISTURBED:
            return
    log("    still busy (%.0f%%): running anyway" % (busy * 100))


def disturbance(r):
    """The larger share of a core that other work took during the window (unpinned:
    what other work took of all the cores, in cores)."""
    return max(r.get("core_other_util") or 0.0, r.get("load_core_other_util") or 0.0,
               r.get("all_other_util") or 0.0)


def log_run(done, total, r):
    tls = ""
    if r["hs_per_s"]:
        tls = "  %s handshakes/s (%.0f%% resumed), server %.1f us/hs, loadgen %.1f us/hs" % (
            fmt_int(r["hs_per_s"]), r["resumed_share"] * 100, r["cpu_hs_us"], r["client_cpu_hs_us"])
    if r["tls_negotiated"] is not None:
        tls += "  loadgen cpu %.0f%%" % (r["client_cpu_util"] * 100)
    if r.get("all_cores_us") is not None:  # unpinned
        where = "  all cores %.2f us/req, others %.0f%%" % (r["all_cores_us"], pct(r["all_other_util"]))
        if r.get("worker_shares"):
            where += "  worker CPU shares %s" % "/".join("%.0f%%" % (v * 100) for v in r["worker_shares"])
        if r.get("accept_shares"):
            where += "  accepted %s" % "/".join("%.0f%%" % (v * 100) for v in r["accept_shares"])
    else:
        where = "  core0 %s us/req  others %s/%s" % (fmt(r["core_us"], "%.2f"), fmt(pct(r["core_other_util"]), "%.0f%%"),
                                                   fmt(pct(r["load_core_other_util"]), "%.0f%%"))
    log("[%d/%d] %-11s r%d %-12s %9s req/s %8.1f MB/s  p99 %7.0f us  cpu %6.2f us/req"
        "  rss %7.1f MiB  thr %5d  err %d%s%s%s"
        % (done, total, r["workload"], r["round"], r["server"], fmt_int(r["rps"]), r["mbps"], r["p99_us"],
           r["cpu_us"] or 0, r["rss_peak_kib"] / 1024, r["threads"], r["errors"], where, tls,
           "  (server stderr: %s)" % r["server_stderr_tail"].splitlines()[-1]
           if r["server_stderr_lines"] else ""))
    if WORKLOAD_BY_NAME[r["workload"]].resume and (r["resumed_share"] or 0) < RESUMED_MIN:
        log("    WARNING: %s resumed %s of the handshakes: this run measured full handshakes"
            % (r["server"], fmt(pct(r["resumed_share"]), "%.0f%%")))


# ---------------------------------------------------------------- summary

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(runs):
    """(workload, server) -> medians over the rounds."""
    by = {}
    for r in runs:
        by.setdefault((r["workload"], r["server"]), []).append(r)
    out = {}
    for key, rs in by.items():
        m = {k: median([r[k] for r in rs]) for k in
             ("rps", "mbps", "p50_us", "p99_us", "p999_us", "cpu_us", "cpu_user_us", "cpu_util",
              "client_cpu_util",
              "core_us", "core_softirq_util", "core_other_util", "load_core_other_util",
              "rss_peak_kib", "rss_end_kib", "rss_idle_kib", "rss_per_conn_kib", "rss_busy_per_conn_kib",
              "client_cpu_us",
              "hs_per_s", "resumed_share", "cpu_hs_us", "client_cpu_hs_us", "core_hs_us",
              "all_cores_us", "all_other_util")}
        # How evenly the workers shared the load: the busiest one's share.
        m["busiest_cpu_share"] = median([r["worker_shares"][0] if r.get("worker_shares") else None for r in rs])
        m["busiest_accept_share"] = median([r["accept_shares"][0] if r.get("accept_shares") else None
                                            for r in rs])
        m["workers"] = max(len(r.get("worker_shares") or ()) for r in rs)
        m["negotiated"] = sorted({r["tls_negotiated"] for r in rs if r["tls_negotiated"]})
        m["threads"] = max(r["threads"] for r in rs)
        m["procs"] = max(r["procs"] for r in rs)
        m["errors"] = sum(r["errors"] for r in rs)
        m["server_stderr_lines"] = sum(r["server_stderr_lines"] for r in rs)
        m["rounds"] = len(rs)
        m["per_round"] = {r["round"]: r for r in rs}
        out[key] = m
    return out


def evaluate(summary, skipped, workloads, skipped_workloads):
    """One row per target of the workloads run or skipped: (workload, text, measured text, verdict, ratio)."""
    rows = []
    for wl, kind, a, b, metric, op, bound, text in TARGETS:
        if wl in skipped_workloads:
            rows.append((wl, text, "not measured (workload skipped)", "n/a", None))
            continue
        if wl not in workloads:
            continue
        if kind == "all":
            rows.append(check_all(summary, skipped, wl, metric, op, bound, text))
            continue
        sa = summary.get((wl, a))
        sb = summary.get((wl, b)) if b else None
        if sa is None or (b and sb is None):
            why = []
            for n in (a, b):
                if n and (wl, n) not in summary:
                    why.append("%s %s" % (n, "skipped: " + skipped[n] if n in skipped else "not run"))
            rows.append((wl, text, "not measured (%s)" % "; ".join(why), "n/a", None))
            continue
        if kind == "threads":
            cpus = os.cpu_count() or 1
            limit = 2 * cpus + 2  # the workers, the serving thread, and one to spare
            ok = sa["threads"] <= limit
            measured = "pool %d threads at most (%d workers); threading %d" % (
                sa["threads"], 2 * cpus, sb["threads"])
            rows.append((wl, text, measured, "met" if ok else "missed (limit %d)" % limit, None))
            continue
        va = sa[metric]
        if kind == "abs":
            ratio, unit = va, " KiB"
        else:
            vb = sb[metric]
            ratio, unit = (va / vb if va is not None and vb else None), "x"
        if ratio is None:
            rows.append((wl, text, "no data", "n/a", None))
            continue
        if op == ">=":
            ok = ratio >= bound
            miss = (bound - ratio) / bound * 100
        else:
            ok = ratio <= bound
            miss = (ratio - bound) / bound * 100
        rng = ""
        if kind == "ratio":
            pr = []
            for rnd, ra in sa["per_round"].items():
                rb = sb["per_round"].get(rnd)
                if rb and ra.get(metric) is not None and rb.get(metric):
                    pr.append(ra[metric] / rb[metric])
            if len(pr) > 1:
                rng = " (rounds %.2f-%.2f)" % (min(pr), max(pr))
            measured = "%.2f%s%s: %s %s vs %s %s" % (ratio, unit, rng, a, fmt_metric(metric, va), b,
                                                    fmt_metric(metric, sb[metric]))
        else:
            measured = "%.1f%s" % (ratio, unit)
        verdict = "met" if ok else "missed by %s%%" % ("%.1f" % miss if miss < 9.95 else "%.0f" % miss)
        rows.append((wl, text, measured, verdict, ratio))
    return rows


def check_all(summary, skipped, wl, metric, op, bound, text):
    """The row of a "all" check: every server the workload ran, against the bound."""
    values = [(s, summary[(wl, s)][metric]) for s in WORKLOAD_BY_NAME[wl].servers if (wl, s) in summary]
    if not values:
        why = "; ".join("%s skipped: %s" % (s, skipped[s]) for s in WORKLOAD_BY_NAME[wl].servers if s in skipped)
        return (wl, text, "not measured (%s)" % (why or "no server ran"), "n/a", None)
    bad = [s for s, v in values if v is None or not (v >= bound if op == ">=" else v <= bound)]
    measured = ", ".join("%s %s" % (s, fmt_metric(metric, v)) for s, v in values)
    return (wl, text, measured, "missed (%s)" % ", ".join(bad) if bad else "met", None)


def fmt_metric(metric, v):
    if v is None:
        return "-"
    if metric == "rps":
        return "%s/s" % fmt_int(v)
    if metric == "cpu_us":
        return "%.2f us" % v
    if metric == "mbps":
        return "%.0f MB/s" % v
    if metric == "cpu_hs_us":
        return "%.1f us" % v
    if metric == "resumed_share":
        return "%.1f%%" % (v * 100)
    return "%.1f" % v


def pct(v):
    return None if v is None else v * 100


def fmt_int(v):
    return "-" if v is None else "{:,}".format(int(round(v)))


def fmt(v, spec):
    return "-" if v is None else spec % v


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "python": platform.python_version()}


def group_reasons(skipped):
    """{name: why} as {why: [names]}."""
    out = {}
    for name, why in sorted(skipped.items()):
        out.setdefault(why, []).append(name)
    return out


def table_columns(w):
    """The columns of workload w's table after the server's name: (header, cell of a summary entry)."""
    def loadgen_cpu(v):
        text = fmt(v["client_cpu_util"] and v["client_cpu_util"] * 100, "%.0f%%")
        return "**%s**" % text if w.tls and (v["client_cpu_util"] or 0) >= LOADGEN_BOUND else text

    def others(v):
        return "%s / %s" % (fmt(pct(v["core_other_util"]), "%.0f%%"), fmt(pct(v["load_core_other_util"]), "%.0f%%"))

    def threads(v):
        return "%d" % v["threads"] + (" (%d procs)" % v["procs"] if v["procs"] > 1 else "")

    def errors(v):
        return "%d" % v["errors"] + (" (stderr: %d lines)" % v["server_stderr_lines"]
                                     if v["server_stderr_lines"] else "")

    def cell(key, spec, scale=1):
        return lambda v: fmt(v[key] and v[key] * scale, spec)

    latency = [("p50 us", cell("p50_us", "%.0f")), ("p99 us", cell("p99_us", "%.0f")),
               ("p99.9 us", cell("p999_us", "%.0f"))]
    if w.handshakes:
        cols = [("handshakes/s", lambda v: fmt_int(v["hs_per_s"])),
                ("resumed", cell("resumed_share", "%.1f%%", 100))] + latency + [
                ("server CPU us/handshake", cell("cpu_hs_us", "%.1f")),
                ("server CPU", cell("cpu_util", "%.0f%%", 100)),
                ("CPU 0 us/handshake", cell("core_hs_us", "%.1f")),
                ("loadgen CPU us/handshake", cell("client_cpu_hs_us", "%.1f")),
                ("loadgen CPU", loadgen_cpu), ("others' load", others)]
    elif not w.pinned:
        cols = [("requests/s", lambda v: fmt_int(v["rps"]))] + latency + [
                ("server CPU us/req", cell("cpu_us", "%.2f")),
                ("server CPU", cell("cpu_util", "%.0f%%", 100)),
                ("loadgen CPU", loadgen_cpu),
                ("all cores us/req", cell("all_cores_us", "%.2f")),
                ("others' load", cell("all_other_util", "%.0f%%", 100)),
                ("busiest worker: CPU", cell("busiest_cpu_share", "%.0f%%", 100)),
                ("busiest worker: accepted", cell("busiest_accept_share", "%.0f%%", 100))]
    else:
        cols = [("requests/s", lambda v: fmt_int(v["rps"])), ("MB/s", cell("mbps", "%.1f"))] + latency + [
                ("server CPU us/req", cell("cpu_us", "%.2f")),
                ("of it user us/req", cell("cpu_user_us", "%.2f")),
                ("server CPU", cell("cpu_util", "%.0f%%", 100)),
                ("CPU 0 us/req", cell("core_us", "%.2f")),
                ("others' load", others), ("loadgen CPU", loadgen_cpu)]
    cols.append(("RSS peak MiB", cell("rss_peak_kib", "%.1f", 1 / 1024)))
    if w.rss_per_conn and w.idle_secs:
        cols.append(("KiB/conn busy", cell("rss_busy_per_conn_kib", "%.2f")))
        cols.append(("KiB/conn idle", cell("rss_per_conn_kib", "%.2f")))
    elif w.rss_per_conn:
        cols.append(("KiB/conn", cell("rss_per_conn_kib", "%.2f")))
    return cols + [("threads", threads), ("errors", errors)]


def server_lines(names, commands, summary, skipped, workloads):
    """The list of servers that ran in (or were skipped from) the workloads given."""
    lines = []
    for name in sorted(names):
        ran = [v for k, v in summary.items() if k[1] == name and k[0] in workloads]
        if not ran and name not in skipped:
            continue
        ready = [r["ready_line"] for v in ran for r in v["per_round"].values()]
        extra = ""
        if name == "st" and ready:
            m = re.search(r"\((\w+)\)", ready[0])
            extra = " (event system: %s%s)" % (m.group(1) if m else "?",
                                               ", as Debian builds libst: no epoll" if m and m.group(1) == "poll" else "")
        lines.append("  - `%s`: %s%s%s" % (name, commands[name].description, extra,
                                         " **(skipped: %s)**" % skipped[name] if name in skipped else ""))
    return lines


def markdown(args, summary, rows, skipped, commands, tls_commands, started):
    m = machine()
    lines = [BEGIN, "", "## Results", ""]
    lines.append("- Command: `%s`" % args.command)
    lines.append("- Date: %s" % started.strftime("%Y-%m-%d %H:%M UTC"))
    lines.append("- Machine: %s CPUs (`nproc`), %s, Linux %s" % (m["nproc"], m["cpu"], m["kernel"]))
    lines.append("- %d round%s; each run: %.1f s warm-up, then a %.1f s measured window"
                 % (args.rounds, "" if args.rounds == 1 else "s", args.warmup, args.duration))
    if args.pinned:
        lines.append("- Server pinned to CPU %d, load generator to CPU %d (`taskset -c`)%s"
                     % (SERVER_CPU, LOAD_CPU, "; the procs-* workloads unpinned (see their tables)"
                        if any(not w.pinned for w in args.workloads) else ""))
    else:
        lines.append("- **Not pinned** (taskset missing or --no-pin): figures are noisier")
    plain = {w.name for w in args.workloads if not w.tls}
    tls = {w.name for w in args.workloads if w.tls}
    plain_lines = server_lines(commands, commands, summary, skipped, plain)
    if plain_lines:
        lines += ["- Servers:"] + plain_lines
    if tls_commands:
        lines.append("- TLS servers (tls://; every one with the same ECDSA P-256 certificate, made for the run "
                     "by `openssl req`; loadgen %s):" % args.loadgen_tls)
        lines += server_lines(tls_commands, tls_commands, summary, skipped, tls)
    for why, names in sorted(group_reasons(args.skipped_workloads).items()):
        lines.append("- **Skipped: %s: %s**" % (", ".join(names), why))
    lines += ["", "### Targets (issues 3, 10 and 11)", ""]
    if rows:
        lines += ["| workload | target | measured (ratio of medians) | verdict |", "|---|---|---|---|"]
    else:
        lines.append("None for the workloads run.")
    for wl, text, measured, verdict, _ in rows:
        lines.append("| %s | %s | %s | %s |" % (wl, text, measured,
                                                 "**%s**" % verdict if verdict.startswith("missed") else verdict))
    for w in WORKLOADS:
        names = [s for s in w.servers if (w.name, s) in summary]
        names += sorted({k[1] for k in summary if k[0] == w.name} - set(names))  # --extra ones
        if not names:
            continue
        cols = table_columns(w)
        lines += ["", "### %s: %s" % (w.name, w.title), "",
                  "`loadgen %s`" % " ".join(w.args), "",
                  "| server | %s |" % " | ".join(h for h, _ in cols),
                  "|---|%s|" % "|".join("---:" for _ in cols)]
        for s in names:
            v = summary[(w.name, s)]
            lines.append("| %s | %s |" % (s, " | ".join(f(v) for _, f in cols)))
        if w.tls:
            lines += [""] + tls_notes(w, names, summary)
        if w.compare and compare_notes(w, summary):
            lines += [""] + compare_notes(w, summary)
        if not w.pinned:
            lines += ["", UNPINNED_NOTE]
        if w.name in args.queued_resets:
            lines += ["", queued_resets_note(args.queued_resets[w.name])]
    lines += ["", "Medians over the rounds; errors, threads and processes: total or maximum over the rounds. "
              "Server CPU: user+sys of the server's process, threads and children per request "
              "(of it user: the part outside the kernel; the rest is system calls and the network "
              "stack); "
              "CPU 0: all the busy time of the server's core per request (the server plus the "
              "network stack's softirq work done there); others' load: the share of CPU 0 / CPU 1 "
              "that went to anything but the server / loadgen and this script (other processes, "
              "ksoftirqd). A run where either passed %d%% was run again (at most %d times): %d of %d "
              "runs were repeated." % (DISTURBED * 100, args.retries, args.repeated, args.nruns),
              "Raw per-run figures: `%s`." % os.path.relpath(args.json, ROOT), "", END]
    return "\n".join(lines)


def compare_notes(w, summary):
    """The ratios of the workload's compared pairs (medians, and the range over the rounds)."""
    notes = []
    for a, b in w.compare:
        sa, sb = summary.get((w.name, a)), summary.get((w.name, b))
        if not sa or not sb:
            continue
        parts = []
        for metric, label in (("rps", "requests/s"), ("cpu_us", "server CPU/request"),
                              ("all_cores_us", "all cores' busy time/request")):
            va, vb = sa[metric], sb[metric]
            if va is None or not vb:
                continue
            pr = [ra[metric] / sb["per_round"][rnd][metric] for rnd, ra in sa["per_round"].items()
                  if rnd in sb["per_round"] and ra.get(metric) is not None and sb["per_round"][rnd].get(metric)]
            rng = " (rounds %.2f-%.2f)" % (min(pr), max(pr)) if len(pr) > 1 else ""
            parts.append("%s %.2fx%s" % (label, va / vb, rng))
        if parts:
            notes.append("- %s vs %s: %s." % (a, b, ", ".join(parts)))
    if notes:
        notes.insert(0, "Side by side, same rounds (ratio of medians):")
    return notes


UNPINNED_NOTE = ("Unpinned: the server's processes and loadgen may run on every core (`taskset -c` with all "
                 "of them). Server CPU: in cores (100% is one core). All cores us/req: the busy time of every "
                 "core per request (server, loadgen, softirq, anything else); others' load: what of it was "
                 "none of those, in cores. Busiest worker: the share of the workers' CPU (or, for procs_echo, "
                 "of the connections accepted) that went to the busiest worker process: 50% is an even split "
                 "of two.")


def tls_notes(w, names, summary):
    """What a TLS table needs said under it: what was negotiated, and a loadgen that may have been the limit."""
    chosen = {}
    for s in names:
        for text in summary[(w.name, s)]["negotiated"]:
            chosen.setdefault(text, []).append(s)
    if len(chosen) == 1:
        notes = ["Negotiated by every server: %s." % next(iter(chosen))]
    elif chosen:
        notes = ["Negotiated: %s." % "; ".join("%s by %s" % (t, ", ".join(ss)) for t, ss in sorted(chosen.items()))]
    else:
        notes = ["No handshake completed."]
    if any((summary[(w.name, s)]["client_cpu_util"] or 0) >= LOADGEN_BOUND for s in names):
        notes.append("**Bold** loadgen CPU: its core was at least %d%% busy, so the rate there is the load "
                     "generator's limit as much as the server's (an OpenSSL client spends more per handshake "
                     "than a server): compare the servers' CPU per %s." % (LOADGEN_BOUND * 100,
                                                                          "handshake" if w.handshakes else "request"))
    return [" ".join(notes)]


def write_doc(path, section):
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    if BEGIN in text and END in text:
        head = text[:text.index(BEGIN)]
        tail = text[text.index(END) + len(END):]
        text = head + section + tail
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "# Performance\n\n") + section + "\n"
    with open(path, "w") as f:
        f.write(text)


# ---------------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(description="sockserv's side-by-side echo benchmark (see docs/PERFORMANCE.md)")
    p.add_argument("--quick", action="store_true", help="1 round of 1 s windows (a look, not a result)")
    p.add_argument("--rounds", type=int, help="rounds (default 5)")
    p.add_argument("--duration", type=float, help="measured window per run, seconds (default 3)")
    p.add_argument("--warmup", type=float, help="warm-up per run, seconds (default 0.5)")
    p.add_argument("--only", help="comma-separated workloads: " + ",".join(WORKLOAD_BY_NAME))
    p.add_argument("--servers", help="comma-separated servers to run (default: all a workload concerns)")
    p.add_argument("--extra", action="append", default=[], metavar="NAME=COMMAND",
                   help="one more server, in every plain (tcp://) workload run (e.g. a patched build to compare: "
                        "'event-new=/tmp/b/sockserv echo --mode event --workers 1 --listen "
                        "tcp://127.0.0.1:0'); it must print a ready line with tcp://127.0.0.1:PORT")
    p.add_argument("--extra-tls", action="append", default=[], metavar="NAME=COMMAND",
                   help="one more server for the TLS workloads; {cert} and {key} in COMMAND become the run's "
                        "certificate and key (e.g. 'event-new=/tmp/b/sockserv echo --mode event --workers 1 "
                        "--listen tls://127.0.0.1:0 --tls-cert {cert} --tls-key {key}'); it must print a "
                        "ready line with tls://127.0.0.1:PORT")
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build"), help="CMake build directory")
    p.add_argument("--output", default=os.path.join(ROOT, "docs", "PERFORMANCE.md"),
                   help="the markdown file whose marked section is replaced")
    p.add_argument("--no-write", action="store_true", help="print the table, do not touch --output")
    p.add_argument("--no-plot", action="store_true",
                   help="do not draw the charts (SVG files in perf/ beside --output, drawn by bench/plot.py "
                        "with matplotlib; --no-write draws none either)")
    p.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    p.add_argument("--retries", type=int, default=2,
                   help="run again a run that other work disturbed (more than %d percent of a core), "
                        "at most this many times (default 2)" % (DISTURBED * 100))
    p.add_argument("--quiet-wait", type=float, default=60,
                   help="before each run, wait up to this many seconds for other work to leave the "
                        "cores alone (default 60; 0: do not wait)")
    p.add_argument("--json", help="raw results (default BUILD/bench/results.json)")
    args = p.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 5)
    args.duration = args.duration or (1.0 if args.quick else 3.0)
    args.warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 0.5)
    if args.rounds < 1 or args.duration <= 0 or args.warmup < 0:
        p.error("--rounds must be >= 1, --duration > 0, --warmup >= 0")
    args.build_dir = os.path.abspath(args.build_dir)
    args.json = args.json or os.path.join(args.build_dir, "bench", "results.json")
    args.workloads = WORKLOADS
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        bad = [n for n in names if n not in WORKLOAD_BY_NAME]
        if bad:
            p.error("unknown workload %s (have: %s)" % (", ".join(bad), ", ".join(WORKLOAD_BY_NAME)))
        args.workloads = [WORKLOAD_BY_NAME[n] for n in names]
    args.server_filter = None
    if args.servers:
        args.server_filter = {s.strip() for s in args.servers.split(",") if s.strip()}
    args.command = " ".join(["python3 bench/run.py"] + [shlex.quote(a) for a in argv])
    if os.environ.get("SOCKSERV_BENCH_VIA_MAKE"):
        # The Makefile runs: run.py --build-dir $(BUILD) $(BENCH_ARGS)
        rest, build = list(argv), None
        if rest[:1] == ["--build-dir"] and len(rest) > 1:
            build, rest = rest[1], rest[2:]
        args.command = "make bench" + ("" if build in (None, "build") else " BUILD=%s" % shlex.quote(build)) \
            + (" BENCH_ARGS=%s" % shlex.quote(" ".join(rest)) if rest else "")
    return args


def main(argv):
    args = parse_args(argv)
    # SIGTERM unwinds like ^C, so the server and loadgen of the run in progress are stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = datetime.datetime.now(datetime.timezone.utc)
    args.loadgen = os.path.join(args.build_dir, "bench", "loadgen")
    for need in (args.loadgen, os.path.join(args.build_dir, "sockserv")):
        if not os.access(need, os.X_OK):
            sys.exit("run.py: %s is missing: run `make` first" % need)
    args.pinned = not args.no_pin
    if args.pinned and not shutil.which("taskset"):
        log("WARNING: taskset not found (util-linux): running unpinned")
        args.pinned = False
    if args.pinned and (os.cpu_count() or 1) < 2:
        log("WARNING: fewer than 2 CPUs: running unpinned")
        args.pinned = False
    if args.pinned:
        try:
            os.sched_setaffinity(0, {LOAD_CPU})  # keep this script off the server's core
        except OSError:
            pass

    with tempfile.TemporaryDirectory(prefix="sockserv-bench-") as tmp:
        return bench(args, started, tmp)


def prepare_tls(args, tmp):
    """The TLS servers, or None with every TLS workload of the run in args.skipped_workloads."""
    args.pki, args.loadgen_tls, args.skipped_workloads = None, "", {}
    tls = [w.name for w in args.workloads if w.tls]
    if not tls:
        return None
    args.loadgen_tls, why = loadgen_tls(args.loadgen)
    if not why:
        args.pki, why = make_pki(tmp)
    if why:
        args.skipped_workloads = {name: why for name in tls}
        log("SKIPPING the TLS workloads (%s): %s" % (", ".join(tls), why))
        return None
    return tls_server_commands(args.build_dir, args.pki)


def add_extras(specs, table, pki, option):
    """The servers of --extra or --extra-tls added to table; their names."""
    names = []
    for spec in specs:
        name, sep, cmd = spec.partition("=")
        if not sep or not name or not cmd.strip() or name in table:
            sys.exit("run.py: %s wants NAME=COMMAND with a new NAME, not %r" % (option, spec))
        argv = shlex.split(cmd)
        if pki:
            argv = [a.replace("{cert}", pki.cert).replace("{key}", pki.key) for a in argv]
        table[name] = Server(argv, "extra", "`%s`" % cmd.strip())
        names.append(name)
    return names


def bench(args, started, tmp):
    commands = server_commands(args.build_dir)
    tls_commands = prepare_tls(args, tmp)
    extras = add_extras(args.extra, commands, None, "--extra")
    tls_extras = add_extras(args.extra_tls, tls_commands, args.pki, "--extra-tls") if tls_commands else []
    plan = []
    for w in args.workloads:
        if w.name in args.skipped_workloads:
            continue
        table = tls_commands if w.tls else commands
        names = [s for s in w.servers if args.server_filter is None or s in args.server_filter]
        names += tls_extras if w.tls else extras
        if names:
            plan.append((w, table, names))
    wanted = {s for _, _, names in plan for s in names}
    skipped = build_c_peers(args.build_dir, wanted)
    for name, why in sorted(skipped.items()):
        log("SKIPPING the %s peer: %s" % (name, why))
    for _, table, names in plan:
        for name in names:
            server = table[name]
            program = (server.argv or server.backend)[0]
            if name not in skipped and not os.access(program, os.X_OK) and not shutil.which(program):
                skipped[name] = "%s is missing (run `make`)" % program
                log("SKIPPING %s: %s" % (name, skipped[name]))

    total = sum(len([s for s in names if s not in skipped]) for _, _, names in plan) * args.rounds
    log("%d runs: %d round(s) x %.1f s (+%.1f s warm-up), server on CPU %s, load on CPU %s"
        % (total, args.rounds, args.duration, args.warmup,
           SERVER_CPU if args.pinned else "any", LOAD_CPU if args.pinned else "any"))
    runs = []
    done = 0
    for w, table, names in plan:
        names = [s for s in names if s not in skipped]
        if not names:
            continue
        for rnd in range(1, args.rounds + 1):
            k = (rnd - 1) % len(names)
            for name in names[k:] + names[:k]:  # the order rotates each round
                done += 1
                r = None
                for attempt in range(1 + args.retries):
                    wait_for_quiet(args)
                    try:
                        r = run_once(args, w, name, table[name], rnd)
                    except Exception as e:  # a failed run is reported, the others go on
                        log("[%d/%d] %s r%d %s: FAILED: %s" % (done, total, w.name, rnd, name, e))
                        r = {"workload": w.name, "server": name, "round": rnd, "failed": str(e)}
                        break
                    r["attempt"] = attempt + 1
                    log_run(done, total, r)
                    if disturbance(r) <= DISTURBED:
                        break
                    if attempt < args.retries:
                        log("    disturbed: %.0f%% of a core went to other work during the window: again"
                            % (disturbance(r) * 100))
                runs.append(r)
    args.queued_resets = {}
    if any(w.name == "procs-connect50" for w, _, _ in plan):
        q = {"connections": QUEUED, "reuseport": [queued_resets(True) for _ in range(QUEUED_TRIALS)],
             "inherit": [queued_resets(False) for _ in range(QUEUED_TRIALS)], "migrate_req": migrate_req()}
        args.queued_resets["procs-connect50"] = q
        log("queued connections reset when a worker leaves (%d trials of %d): SO_REUSEPORT %s, inherited %s"
            % (QUEUED_TRIALS, QUEUED, q["reuseport"], q["inherit"]))
    good = [r for r in runs if "failed" not in r]
    args.nruns = len(runs)
    args.repeated = sum(1 for r in good if r.get("attempt", 1) > 1)
    summary = summarize(good)
    rows = evaluate(summary, skipped, {w.name for w, _, _ in plan}, args.skipped_workloads)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"machine": machine(), "date": started.isoformat(), "command": args.command,
                   "queued_resets": args.queued_resets, "runs": runs, "skipped": skipped, "skipped_workloads": args.skipped_workloads}, f, indent=1)
    section = markdown(args, summary, rows, skipped, commands, tls_commands, started)
    log("")
    log("Targets:")
    for wl, text, measured, verdict, _ in rows:
        log("  %-13s %-58s %s -> %s" % (wl, text, measured, verdict))
    for name, why in sorted(skipped.items()):
        log("(the %s peer was skipped: %s)" % (name, why))
    for why, names in sorted(group_reasons(args.skipped_workloads).items()):
        log("(skipped: %s: %s)" % (", ".join(names), why))
    if args.no_write:
        log("")
        log(section)
    else:
        write_doc(args.output, section)
        log("wrote %s" % os.path.relpath(args.output, os.getcwd()))
    drawn = args.no_write or args.no_plot or draw_charts(args)
    failed = [r for r in runs if "failed" in r]
    errors = sum(r["errors"] for r in good)
    if failed or errors:
        log("%d run(s) failed, %d loadgen error(s)" % (len(failed), errors))
        return 1
    return 0 if drawn else 1


def draw_charts(args):
    """The charts of the results just written (bench/plot.py), in perf/ beside --output.
    False if drawing failed; a missing matplotlib is no failure (plot.py says so on stderr)."""
    import plot  # bench/plot.py; here, not at the top: it imports this file
    outdir = os.path.join(os.path.dirname(os.path.abspath(args.output)), "perf")
    try:
        written = plot.plot(args.json, outdir)
    except Exception as e:  # the results are written: say what went wrong, exit 1
        sys.stderr.write("run.py: the charts could not be drawn: %s\n" % e)
        return False
    for path in written or ():
        log("drew %s" % os.path.relpath(path, os.getcwd()))
    return True


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
