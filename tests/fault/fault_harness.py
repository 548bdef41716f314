"""fault_harness.py: what the fault tests add to tests/cli/sockserv_harness.py: the exit counters, CPU, memory, fd limits, process groups, crowds of connections, wrapped launches.

Environment (besides the CLI harness's):
  SS_FAULT_SHIM   the accept-fault LD_PRELOAD shim (default: build/tests/accept_fault.so)
"""
import os
import re
import resource
import selectors
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "cli"))
import sockserv_harness as harness  # noqa: E402

SHIM = os.environ.get("SS_FAULT_SHIM") or os.path.join(harness.ROOT, "build", "tests", "accept_fault.so")
CLK_TCK = os.sysconf("SC_CLK_TCK")
IDLE_CPU = 0.20  # "near idle": under a fifth of one core, whatever the machine's noise

# ---------------------------------------------------------------- the program's report


COUNTERS = ("accepted", "refused", "completed", "errors", "accept_errors", "cancelled", "dropped", "tls_failed")


def echo_once(case, srv, text):
    """One connection, one line echoed; returns the client's port."""
    with srv.connect() as c:
        c.send(text + b"\n")
        case.assertEqual(c.recv_line(), text + b"\n")
        return c.sockname()[1]


def stopped_counters(srv):
    """The counters of the line the program prints at exit:
    'sockserv: stopped: accepted A, refused R, completed C, errors E, accept errors X, cancelled K,
    dropped D, tls failed T' (a counter's words joined by '_': tls_failed)."""
    err = srv.stderr().decode(errors="replace")
    lines = re.findall(r"^sockserv: stopped: (.*)$", err, re.M)
    if len(lines) != 1:
        raise AssertionError("expected one 'sockserv: stopped:' line on stderr, found %d\n%s"
                             % (len(lines), srv.describe()))
    got = {}
    for part in lines[0].split(","):
        m = re.fullmatch(r"\s*([a-z ]+?) ([0-9]+)\s*", part)
        if not m:
            raise AssertionError("malformed counter %r in the stopped line %r" % (part, lines[0]))
        got[m.group(1).replace(" ", "_")] = int(m.group(2))
    if tuple(got) != COUNTERS:
        raise AssertionError("stopped line has counters %s, expected %s" % (list(got), list(COUNTERS)))
    return got


def failure_lines(srv, why=None):
    """The 'sockserv: request from HOST:PORT failed: REASON' lines: [(peer, reason)],
    only those whose reason contains `why` if given."""
    err = srv.stderr().decode(errors="replace")
    found = re.findall(r"^sockserv: request from (\S+) failed: (.*)$", err, re.M)
    return [(peer, reason) for peer, reason in found if why is None or why in reason]

# ---------------------------------------------------------------- the process, from /proc


def cpu_seconds(pid):
    """User + system CPU time of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid, "rb") as f:
        rest = f.read().rsplit(b")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK  # utime, stime


def cpu_share(pid, seconds):
    """The share of one core the process used over the next `seconds` (0.5 = half a core)."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


rss_kib = harness.rss_kib


def highest_fd(pid):
    return max(int(fd) for fd in os.listdir("/proc/%d/fd" % pid))


def set_fd_limit(pid, soft):
    """Lower (or raise again) the soft RLIMIT_NOFILE of a running process."""
    _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))


def proc_state(pid):
    """The state letter of a process (R, S, Z...), or None once it is gone (reaped)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode()
    except OSError:
        return None


def group_members(pgid):
    """The processes (zombies included) of a process group."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name, "rb") as f:
                    rest = f.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(rest[2]) == pgid:
                found.append(int(name))
    return found


def zombies_of(pid):
    return [p for p in harness.children_of(pid) if proc_state(p) == "Z"]


def sanitized():
    """True if the program is built with a sanitizer (its memory figures mean little then)."""
    with open(harness.BIN, "rb") as f:
        data = f.read()
    return b"libasan.so" in data or b"libtsan.so" in data or b"__asan_init" in data

# ---------------------------------------------------------------- launching under conditions


def launch(case, args, env=None, nofile=None, umask=None, **kw):
    """case.server(args) run through env(1) and sh(1): with extra environment variables,
    an RLIMIT_NOFILE (soft and hard) and a umask. The server keeps the pid (exec)."""
    script = []
    if umask is not None:
        script.append("umask %03o" % umask)
    if nofile is not None:
        script.append("ulimit -n %d" % nofile)
    script.append('exec "$@"')
    pre = ["%s=%s" % kv for kv in sorted((env or {}).items())]
    return case.server(*(pre + ["/bin/sh", "-c", "; ".join(script), "sh", harness.BIN] + list(args)),
                       exe="/usr/bin/env", **kw)


def shim_env(faults, log, every=1):
    """The environment that makes the server's accept calls fail as `faults` says
    (see accept_fault.c); each injected failure appends a line to `log`."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {"LD_PRELOAD": SHIM, "SS_FAULT_ACCEPT": faults, "SS_FAULT_EVERY": str(every),
            "SS_FAULT_LOG": log,
            # An LD_PRELOAD library comes before the sanitizer runtime: allowed here.
            "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}


def injected(log):
    """The failures the shim injected so far, in order."""
    try:
        with open(log) as f:
            return f.read().split()
    except FileNotFoundError:
        return []

# ---------------------------------------------------------------- crowds of connections


class Crowd:
    """Many non-blocking stream connections, opened in batches (each smaller than the
    listen backlog) with a deadline; a test case closes them at cleanup."""

    def __init__(self, case, address, n, batch=100, timeout=30 * harness.SLOW):
        self.socks = []
        sel = selectors.DefaultSelector()
        deadline = time.monotonic() + timeout
        try:
            for start in range(0, n, batch):
                waiting = set()
                for _ in range(min(batch, n - start)):
                    s = socket.socket(address.family, socket.SOCK_STREAM)
                    case.addCleanup(s.close)
                    s.setblocking(False)
                    err = s.connect_ex(address.addr)
                    if err not in (0, 115, 11):  # EINPROGRESS, EAGAIN (Unix)
                        raise AssertionError("connect: %s" % os.strerror(err))
                    self.socks.append(s)
                    sel.register(s, selectors.EVENT_WRITE)
                    waiting.add(s)
                while waiting:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise AssertionError("%d of %d connections not established in %.0fs"
                                             % (len(waiting), n, timeout))
                    for key, _ in sel.select(min(left, 1.0)):
                        err = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            raise AssertionError("connect: %s" % os.strerror(err))
                        sel.unregister(key.fileobj)
                        waiting.discard(key.fileobj)
        finally:
            sel.close()

    def ports(self):
        return [s.getsockname()[1] for s in self.socks]

    def send_each(self, data):
        """Send data on every connection still open; returns how many took it."""
        took = 0
        for s in self.socks:
            try:
                if s.send(data) == len(data):
                    took += 1
            except (BlockingIOError, OSError):
                pass
        return took

    def closed(self):
        """The connections the server has closed (EOF or reset seen); what arrives is dropped."""
        gone = []
        for s in self.socks:
            try:
                while True:
                    if not s.recv(65536):
                        gone.append(s)
                        break
            except BlockingIOError:
                pass
            except OSError:
                gone.append(s)
        return gone

    def dribble(self, data=b"x", every=0.5):
        """Send `data` on every connection each `every` seconds, in a thread, until
        the returned function is called."""
        stop = threading.Event()

        def body():
            while not stop.wait(every):
                self.send_each(data)
        t = threading.Thread(target=body, daemon=True)
        t.start()

        def halt():
            stop.set()
            t.join(10)
        return halt
