"""sockserv_harness.py: start the sockserv program, talk to it over real sockets, stop it, check nothing is left behind.

Shared by the black-box tests in tests/cli/test_*.py (Python 3 standard library
only). Every socket has a timeout, every wait has a deadline, and a test that
runs too long fails with a SIGALRM instead of hanging the suite.

Skips: a module or class that needs what this machine lacks calls require() (see
there); a module whose every test was skipped exits with SKIP_EXIT, 77, which
ctest reports as Skipped (SKIP_RETURN_CODE), instead of passing.

Environment:
  SOCKSERV_BIN        the program (default: build/sockserv next to the sources)
  SOCKSERV_EXAMPLES   the built examples (default: build/examples)
  SOCKSERV_TEST_SLOW  a factor for every timeout (default 1; e.g. 3 under valgrind)
"""
import collections
import itertools
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
USAGE_HINT = "Try 'sockserv --help'."  # the line after every usage error
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("SOCKSERV_BIN") or os.path.join(ROOT, "build", "sockserv")
EXAMPLES = os.environ.get("SOCKSERV_EXAMPLES") or os.path.join(ROOT, "build", "examples")
SLOW = float(os.environ.get("SOCKSERV_TEST_SLOW") or "1")

IO_TIMEOUT = 10.0 * SLOW     # one receive or send
START_TIMEOUT = 15.0 * SLOW  # until the ready line
STOP_TIMEOUT = 15.0 * SLOW   # from a signal (plus any drain) to the exit
TEST_TIMEOUT = 90 * SLOW     # a whole test case, enforced with SIGALRM


def program_modes(exe=None):
    """The modes the program offers, in its order, as its --help lists them under
    "MODE:" (the library's strategies: the list is written once, in the library)."""
    exe = exe or BIN
    try:
        out = subprocess.run([exe, "--help"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=30 * SLOW).stdout.decode(errors="replace")
    except OSError as e:
        raise RuntimeError("cannot run %s --help to learn its modes (set SOCKSERV_BIN): %s" % (exe, e)) from None
    m = re.search(r"^MODE:\n((?:[ \t]+\S.*\n)+)", out, re.M)
    if not m or not m.group(1).split():
        raise RuntimeError("%s --help lists no modes under a 'MODE:' heading:\n%s" % (exe, out))
    return tuple(m.group(1).split())


MODES = program_modes()
CONCURRENT = tuple(m for m in MODES if m != "sync")  # the modes that serve clients at the same time

# ---------------------------------------------------------------- addresses

Address = collections.namedtuple("Address", "url scheme family type addr path")


def parse_url(url):
    """Parse a URL as printed in the ready line into an Address.

    addr is what socket.connect() takes; path is the Unix socket file to check
    for (None for IP and abstract sockets). A tls:// address is a TCP one: connect()
    makes a plain TCP connection to it (tests/cli/test_tls.py adds the TLS)."""
    m = re.fullmatch(r"(tcp|udp|tls)://(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):([0-9]+)", url)
    if m:
        stype = socket.SOCK_DGRAM if m.group(1) == "udp" else socket.SOCK_STREAM
        if m.group(2) is not None:
            return Address(url, m.group(1), socket.AF_INET6, stype, (m.group(2), int(m.group(4))), None)
        return Address(url, m.group(1), socket.AF_INET, stype, (m.group(3), int(m.group(4))), None)
    m = re.fullmatch(r"(unix|unix-dgram):(.+)", url)
    if m:
        stype = socket.SOCK_STREAM if m.group(1) == "unix" else socket.SOCK_DGRAM
        path = m.group(2)
        if path.startswith("@"):
            return Address(url, m.group(1), socket.AF_UNIX, stype, "\0" + path[1:], None)
        return Address(url, m.group(1), socket.AF_UNIX, stype, path, path)
    raise AssertionError("not a sockserv URL: %r" % (url,))


def ipv6_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def port_is_free(port, host="127.0.0.1"):
    """True if nothing listens on host:port and it can be bound right now."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        return True
    except OSError:
        return False


_tag = itertools.count(1)  # next() is atomic: unique() may run in several threads


def unique(prefix="t"):
    """A name no other test (or run) uses: for abstract socket names and markers."""
    return "%s-%d-%d-%d" % (prefix, os.getpid(), int(time.monotonic() * 1000) % 100000000, next(_tag))


def listen_urls(tmpdir):
    """One listen URL per transport kind: name -> URL (port 0, temp paths)."""
    urls = {
        "tcp4": "tcp://127.0.0.1:0",
        "unix": "unix:" + os.path.join(tmpdir, "s.sock"),
        "abstract": "unix:@" + unique("sockserv-test"),
        "udp4": "udp://127.0.0.1:0",
        "unix-dgram": "unix-dgram:" + os.path.join(tmpdir, "d.sock"),
        "abstract-dgram": "unix-dgram:@" + unique("sockserv-test-dgram"),
    }
    if ipv6_available():
        urls["tcp6"] = "tcp://[::1]:0"
        urls["udp6"] = "udp://[::1]:0"
    return urls

# ---------------------------------------------------------------- clients


class Conn:
    """A stream client with a receive buffer; every call has a deadline."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def sockname(self):
        return self.sock.getsockname()

    def hostport(self):
        """The client's address as the server prints it: HOST:PORT or [V6]:PORT."""
        name = self.sock.getsockname()
        if self.sock.family == socket.AF_INET6:
            return "[%s]:%d" % (name[0], name[1])
        return "%s:%d" % (name[0], name[1])

    def send(self, data, timeout=IO_TIMEOUT):
        self.sock.settimeout(timeout)
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(left)
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError("connection closed by the server")
        self.buf += chunk

    def recv_line(self, timeout=IO_TIMEOUT):
        """One line, its b'\\n' included. AssertionError on timeout or EOF."""
        deadline = time.monotonic() + timeout
        try:
            while b"\n" not in self.buf:
                self._fill(deadline)
        except (socket.timeout, EOFError, ConnectionError) as e:
            raise AssertionError("no complete line within %.1fs (%s); have %r"
                                 % (timeout, e, self.buf[:200])) from None
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def recv_exact(self, n, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        try:
            while len(self.buf) < n:
                self._fill(deadline)
        except (socket.timeout, EOFError, ConnectionError) as e:
            raise AssertionError("got %d of %d bytes within %.1fs (%s)"
                                 % (len(self.buf), n, timeout, e)) from None
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def recv_until_closed(self, timeout=IO_TIMEOUT):
        """Everything until the server closes: (data, how) with how 'eof' or 'reset'.
        AssertionError if the connection is still open at the deadline."""
        deadline = time.monotonic() + timeout
        how = None
        try:
            while True:
                self._fill(deadline)
        except EOFError:
            how = "eof"
        except ConnectionError:
            how = "reset"
        except socket.timeout:
            raise AssertionError("the server did not close the connection within %.1fs; got %d bytes"
                                 % (timeout, len(self.buf))) from None
        data, self.buf = self.buf, b""
        return data, how

    def assert_open(self, wait=0.3):
        """Nothing arrives and the connection stays open for `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(1 << 16)
        except socket.timeout:
            return
        if chunk:
            self.buf += chunk
            raise AssertionError("unexpected data: %r" % (chunk[:200],))
        raise AssertionError("the connection was closed")

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def reset(self):
        """Close abruptly: SO_LINGER 0 makes the kernel send a RST."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.sock.close()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Dgram:
    """A datagram client connected to the server (so only its replies arrive)."""

    def __init__(self, sock):
        self.sock = sock

    def send(self, data):
        self.sock.settimeout(IO_TIMEOUT)
        self.sock.send(data)

    def recv(self, timeout=IO_TIMEOUT, size=1 << 17):
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(size)
        except socket.timeout:
            raise AssertionError("no datagram within %.1fs" % timeout) from None

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(url, timeout=IO_TIMEOUT, rcvbuf=None):
    """Connect to a sockserv URL: a Conn for stream URLs, a Dgram for datagram ones."""
    a = url if isinstance(url, Address) else parse_url(url)
    s = socket.socket(a.family, a.type)
    try:
        s.settimeout(timeout)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if a.type == socket.SOCK_DGRAM and a.family == socket.AF_UNIX:
            s.bind("")  # autobind an abstract name, so the reply has somewhere to go
        s.connect(a.addr)
    except BaseException:
        s.close()
        raise
    return Conn(s) if a.type == socket.SOCK_STREAM else Dgram(s)

# ---------------------------------------------------------------- processes


def _stat(pid):
    """(ppid, state, starttime) of a process, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(b")") + 2:].split()
    return int(rest[1]), rest[0].decode(), int(rest[19])


def children_of(pid):
    """{child pid: starttime} of the processes whose parent is pid."""
    kids = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st and st[0] == pid:
                kids[int(name)] = st[2]
    return kids


def live_children(pid):
    """The child processes of pid that have not ended (zombies left out)."""
    return [k for k in children_of(pid) if alive(k)]


def alive(pid):
    """Whether process pid runs (exists and is not a zombie)."""
    st = _stat(pid)
    return st is not None and st[1] not in ("Z", "X")


def still_running(pid, starttime):
    st = _stat(pid)
    return st is not None and st[2] == starttime and st[1] not in ("Z", "X")


def close_tls(c):
    """End as a well-behaved client does: close_notify (the server then sees the end of
    input, not a truncation), then close."""
    try:
        c.sock.settimeout(IO_TIMEOUT)
        c.sock.unwrap()
    except (OSError, ValueError):
        pass
    c.sock.close()


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def thread_count(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def rss_kib(pid):
    """The process's resident memory, KiB (VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


class Terminal:
    """A pseudo-terminal for the chat's admin console: pass `slave` as the program's
    stdin (then close_slave()), type with write(), and read() what the program wrote
    there so far; hang_up() closes our side. Skips the test where no pseudo-terminal
    can be had."""

    def __init__(self, case):
        try:
            self.master, self.slave = pty.openpty()
        except OSError as e:  # e.g. a chroot without /dev/pts
            case.skipTest("no pseudo-terminal available here: %s" % e)
        case.addCleanup(self.hang_up)
        self.out = b""

    def close_slave(self):
        os.close(self.slave)

    def hang_up(self):
        """Close our side of the terminal (once): the terminal hangs up."""
        if self.master is not None:
            os.close(self.master)
            self.master = None

    def write(self, data):
        os.write(self.master, data)

    def read(self):
        """All the terminal got so far (what is waiting taken without blocking)."""
        while select.select([self.master], [], [], 0)[0]:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.out += chunk
        return self.out


class ChatMember:
    """A chat client that has joined: its own prefix (HOST:PORT as the server prints it) is known."""

    def __init__(self, conn, prefix):
        self.conn = conn
        self.prefix = prefix

    @classmethod
    def join(cls, conn):
        """The member on conn, its prefix learnt from its first line coming back."""
        token = unique("join").encode()
        conn.send(token + b"\n")
        m = cls(conn, None)
        _, line = m.skip_to(token)
        m.prefix = line[: -len(token) - 2]
        return m

    @staticmethod
    def settle(members):
        """After this, every member has read everything said so far."""
        token = unique("settle").encode()
        members[0].say(token)
        for m in members:
            m.skip_to(token)

    def say(self, text):
        self.conn.send(text + b"\n")

    def line(self, timeout=10 * SLOW):
        return self.conn.recv_line(timeout)

    def skip_to(self, text, timeout=10 * SLOW):
        """Read lines until one ends with ' TEXT': (the lines read before it, that line)."""
        before = []
        deadline = time.monotonic() + timeout
        while True:
            line = self.line(max(0.1, deadline - time.monotonic()))
            if line.endswith(b" " + text + b"\n"):
                return before, line
            before.append(line)


# Threads a runtime may add to the program's own (ThreadSanitizer's background thread).
RUNTIME_THREADS = 2
# The program's threads besides those of its mode: the main thread and the one
# that prints the counters at SIGUSR1 (chat adds its room broker).
PROGRAM_THREADS = 2


def wait_until(predicate, timeout, step=0.02):
    """Poll predicate() until it is true or timeout passes; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


_spawn_lock = threading.Lock()


def _die_with_parent():
    """In the child before exec: SIGKILL when the test process dies (even by SIGKILL, e.g. a
    ctest timeout), so a killed run leaves no server behind despite start_new_session."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux, or no ctypes: best effort
        pass


class Server:
    """One run of the program: started in its own session, output to files."""

    def __init__(self, args, exe=None, stdin=subprocess.DEVNULL, tmpdir=None, wait=True, env=None,
                 pass_fds=(), err_path=None):
        self.exe = exe or BIN
        self.args = list(args)
        self.own_tmp = tmpdir is None
        self.tmp = tmpdir or tempfile.mkdtemp(prefix="sockserv-test-")
        # O_APPEND files, read back through their own handles: no shared offset.
        self.out_path = os.path.join(self.tmp, "stdout.%d" % id(self))
        self.err_path = err_path or os.path.join(self.tmp, "stderr.%d" % id(self))
        self.out = open(self.out_path, "ab")
        self.err = open(self.err_path, "ab")
        self.kids = {}
        self.url = self.address = None
        with _spawn_lock:  # preexec_fn runs Python in the child: one fork at a time
            self.proc = subprocess.Popen([self.exe] + self.args, stdin=stdin, stdout=self.out,
                                         stderr=self.err, start_new_session=True, close_fds=True,
                                         preexec_fn=_die_with_parent, env=env, pass_fds=pass_fds)
        self.pid = self.proc.pid
        if wait:
            self.wait_ready()

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read()

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read()

    def describe(self):
        return "%s %s\n--- stdout:\n%s\n--- stderr:\n%s" % (
            self.exe, " ".join(self.args), self.stdout().decode(errors="replace")[-2000:],
            self.stderr().decode(errors="replace")[-3000:])

    def wait_ready(self, timeout=START_TIMEOUT):
        """Wait for the ready line, check its form, set self.url and self.address."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.stdout()
            if b"\n" in out:
                break
            if self.proc.poll() is not None:
                raise AssertionError("exited with %s before the ready line\n%s"
                                     % (self.proc.returncode, self.describe()))
            if time.monotonic() > deadline:
                raise AssertionError("no ready line within %.1fs\n%s" % (timeout, self.describe()))
            time.sleep(0.01)
        line = out.split(b"\n", 1)[0].decode(errors="replace")
        m = re.fullmatch(r"listening on (\S+)", line)
        if not m:
            raise AssertionError("ready line is not 'listening on URL': %r" % (line,))
        self.url = m.group(1)
        self.address = parse_url(self.url)
        return self.url

    def wait_ready_lines(self, n, timeout=START_TIMEOUT):
        """Wait for n ready lines (one a listener, in the order given); check their form and
        that no more come at once; set self.url and self.address to the first. The URLs."""
        deadline = time.monotonic() + timeout
        while self.stdout().count(b"\n") < n:
            if self.proc.poll() is not None:
                raise AssertionError("exited with %s before %d ready lines\n%s"
                                     % (self.proc.returncode, n, self.describe()))
            if time.monotonic() > deadline:
                raise AssertionError("no %d ready lines within %.1fs\n%s" % (n, timeout, self.describe()))
            time.sleep(0.01)
        lines = self.stdout().decode(errors="replace").splitlines()
        if len(lines) != n:
            raise AssertionError("expected %d ready lines, got %r" % (n, lines))
        urls = []
        for line in lines:
            m = re.fullmatch(r"listening on (\S+)", line)
            if not m:
                raise AssertionError("ready line is not 'listening on URL': %r" % (line,))
            urls.append(m.group(1))
        self.url, self.address = urls[0], parse_url(urls[0])
        return urls

    def connect(self, **kw):
        return connect(self.address, **kw)

    def running(self):
        return self.proc.poll() is None

    def fd_count(self):
        return fd_count(self.pid)

    def note_children(self):
        if self.proc.poll() is None:
            self.kids.update(children_of(self.pid))

    def wait_exit(self, timeout):
        """Wait for the exit, noting child processes meanwhile; returncode or None."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.note_children()
            time.sleep(0.02)
        return self.proc.poll()

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT, expect=0, group=False):
        """Send sig (to the whole process group if group, as a terminal does) and
        check: exit within timeout with status expect, no child process left,
        Unix socket file removed. Returns the seconds the exit took."""
        self.note_children()
        t0 = time.monotonic()
        if group:
            os.killpg(self.pid, sig)
        else:
            os.kill(self.pid, sig)
        code = self.wait_exit(timeout)
        took = time.monotonic() - t0
        if code is None:
            self.kill()
            raise AssertionError("did not exit within %.1fs of %s\n%s"
                                 % (timeout, signal.Signals(sig).name, self.describe()))
        self.check_exit(code, expect)
        return took

    def check_exit(self, code, expect=0):
        if code != expect:
            raise AssertionError("exit status %s, expected %s\n%s" % (code, expect, self.describe()))
        self.check_nothing_left()

    def check_nothing_left(self):
        """After the exit: no child process still runs, the socket file is gone."""
        left = wait_until(lambda: [p for p, t in self.kids.items() if still_running(p, t)] == [], 2.0)
        if not left:
            stale = [p for p, t in self.kids.items() if still_running(p, t)]
            for p in stale:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            raise AssertionError("child processes left behind: %s\n%s" % (stale, self.describe()))
        if self.address is not None and self.address.path is not None:
            if os.path.exists(self.address.path):
                raise AssertionError("socket file %s left behind\n%s" % (self.address.path, self.describe()))

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        for p, t in self.kids.items():
            if still_running(p, t):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass

    def close(self):
        self.kill()
        self.out.close()
        self.err.close()
        report = self.sanitizer_report()
        if self.own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if report:
            raise AssertionError("sanitizer report from %s %s:\n%s"
                                 % (self.exe, " ".join(self.args), report))

    # What AddressSanitizer, LeakSanitizer, UBSan and ThreadSanitizer print, in the
    # server or in a forked child (whose exit status nobody checks).
    SANITIZER_MARKS = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:",
                       b"WARNING: ThreadSanitizer", b"ERROR: ThreadSanitizer")

    def sanitizer_report(self):
        try:
            err = self.stderr()
        except OSError:
            return None
        at = [err.find(m) for m in self.SANITIZER_MARKS if m in err]
        if not at:
            return None
        start = max(0, min(at) - 200)
        return err[start:start + 6000].decode(errors="replace")


def run(args, exe=None, timeout=10 * SLOW, stdin=subprocess.DEVNULL, env=None):
    """Run the program to its end: (returncode, stdout, stderr) as text."""
    p = subprocess.run([exe or BIN] + list(args), stdin=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, start_new_session=True,
                       preexec_fn=_die_with_parent, env=env)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

# ---------------------------------------------------------------- skips

SKIP_EXIT = 77  # a test module with nothing to run here (ctest's SKIP_RETURN_CODE)



def deployment_block(name):
    """The fenced block that follows `<!-- tested: NAME -->` in docs/DEPLOYMENT.md: the
    configurations the deployment tests run as the document shows them."""
    with open(os.path.join(ROOT, "docs", "DEPLOYMENT.md")) as f:
        text = f.read()
    m = re.search(r"^<!-- tested: %s -->\n```[\w-]*\n(.*?)^```" % re.escape(name), text, re.S | re.M)
    if not m:
        raise AssertionError("docs/DEPLOYMENT.md has no block marked <!-- tested: %s -->" % name)
    return m.group(1)

def require(condition, reason, install_hint=None):
    """Go on only if condition holds: what a test needs and this machine may lack,
    e.g. require(have_tls, "sockserv was built without OpenSSL",
    "apt-get install libssl-dev, then rebuild").

    Called at the top level of the module run as the test, a false condition prints
    'SKIPPED: REASON; install with: HINT' and exits SKIP_EXIT at once. Called in
    setUpClass, setUp or a test, it raises unittest.SkipTest: unittest reports the
    skip with its reason, and main() exits SKIP_EXIT if no test of the module passed."""
    if condition:
        return
    text = reason if install_hint is None else "%s; install with: %s" % (reason, install_hint)
    caller = sys._getframe(1)
    if caller.f_code.co_name == "<module>" and caller.f_globals.get("__name__") == "__main__":
        print("SKIPPED: %s" % text, flush=True)
        sys.exit(SKIP_EXIT)
    raise unittest.SkipTest(text)


class _CountingResult(unittest.TextTestResult):
    """A text result that also counts the tests (and subtests) that passed."""

    passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is None:
            self.passed += 1


class _CountingRunner(unittest.TextTestRunner):
    """unittest's text runner, with the result that counts what passed."""

    resultclass = _CountingResult


class main(unittest.TestProgram):
    """unittest.main, except that a run in which something was skipped and nothing
    passed or failed prints 'SKIPPED: REASON' and exits SKIP_EXIT: ctest then shows
    the test as Skipped, not Passed. Importing this harness makes it unittest.main,
    so the test modules' `unittest.main(verbosity=2)` is this."""

    def runTests(self):
        if self.testRunner is None:
            self.testRunner = _CountingRunner
        exit_at_end, self.exit = self.exit, False
        super().runTests()
        self.exit = exit_at_end
        result = self.result
        skipped = result.wasSuccessful() and result.skipped and getattr(result, "passed", 1) == 0
        if skipped:
            reasons = list(dict.fromkeys(why for _, why in result.skipped))
            print("SKIPPED: %s" % "; ".join(reasons), flush=True)
        if self.exit:
            sys.exit(SKIP_EXIT if skipped else int(not result.wasSuccessful()))


unittest.main = main

# ---------------------------------------------------------------- TLS


def program_has_tls(exe=None):
    """False when sockserv says it was built without TLS (it checks before reading a file)."""
    code, _, err = run(["echo", "--listen", "tls://127.0.0.1:0", "--tls-cert", "/nonexistent/cert.pem",
                        "--tls-key", "/nonexistent/key.pem"], exe=exe)
    return not (code == 2 and "without TLS" in err)


def self_signed_cert(tmpdir):
    """A certificate for localhost and 127.0.0.1 and its key, PEM files made in tmpdir by the
    openssl command with a configuration of its own: (cert, key). Skips (require) when the
    command is missing or sockserv was built without TLS."""
    openssl = shutil.which("openssl")
    require(openssl, "the openssl command is not installed: the test makes its certificate with it",
            "apt-get install openssl")
    require(program_has_tls(), "sockserv was built without TLS (OpenSSL 3)",
            "apt-get install libssl-dev, then rebuild sockserv")
    cnf, cert, key = (os.path.join(tmpdir, name) for name in ("openssl.cnf", "cert.pem", "key.pem"))
    with open(cnf, "w") as f:
        f.write("[req]\ndistinguished_name = dn\n[dn]\n")
    p = subprocess.run([openssl, "req", "-x509", "-config", cnf, "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "30",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60 * SLOW,
                       env=dict(os.environ, OPENSSL_CONF=cnf))
    if p.returncode != 0:
        raise RuntimeError("openssl req failed:\n%s" % p.stderr.decode(errors="replace"))
    return cert, key

# ---------------------------------------------------------------- test base


class TestTimeout(AssertionError):
    pass


def _on_alarm(signum, frame):
    raise TestTimeout("test case exceeded %.0fs" % TEST_TIMEOUT)


class Case(unittest.TestCase):
    """Base class: a per-test time limit, a temp dir, and servers cleaned up."""

    needs_program = True  # False for tests of the examples only

    def assertUsageError(self, result, words=(), starts=None):
        """result, run()'s (code, stdout, stderr), is a usage error: exit 2, nothing on
        stdout, one line naming the problem (starting with `starts`, holding each of
        `words`), then the hint."""
        code, out, err = result
        self.assertEqual(code, 2, err)
        self.assertEqual(out, "")
        lines = err.splitlines()
        self.assertEqual(lines[1:], [USAGE_HINT], err)
        if starts:
            self.assertTrue(lines[0].startswith(starts), err)
        for w in words:
            self.assertIn(w, lines[0])

    def setUp(self):
        if self.needs_program and not os.access(BIN, os.X_OK):
            self.fail("sockserv program not found at %s (set SOCKSERV_BIN)" % BIN)
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.alarm(int(TEST_TIMEOUT))
        self.addCleanup(signal.alarm, 0)
        self.tmp = tempfile.mkdtemp(prefix="sockserv-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def server(self, *args, **kw):
        """Start the program with args, wait for its ready line; killed at cleanup."""
        kw.setdefault("tmpdir", self.tmp)
        wait = kw.pop("wait", True)
        srv = Server(args, wait=False, **kw)
        self.addCleanup(srv.close)
        if wait:
            srv.wait_ready()
        return srv

    def connect(self, srv_or_url, **kw):
        c = connect(srv_or_url.address if isinstance(srv_or_url, Server) else srv_or_url, **kw)
        self.addCleanup(c.close)
        return c

    def roundtrip(self, srv, text=b"ping"):
        """One exchange with an echo server on any transport: a line on a stream,
        a datagram otherwise."""
        c = self.connect(srv)
        if srv.address.type == socket.SOCK_STREAM:
            c.send(text + b"\n")
            self.assertEqual(c.recv_line(), text + b"\n")
        else:
            c.send(text)
            self.assertEqual(c.recv(), text)
        c.close()

    def urls(self):
        return listen_urls(self.tmp)

    def at_once(self, cases, fn, timeout=TEST_TIMEOUT):
        """Run fn(case) for every case at the same time, each in a thread of its own,
        then report each case as a subTest with its own failure. For the per-mode loops
        whose time goes in waiting (drains, stops, timeouts); the cases must not share
        a server. A case is a dict of subTest parameters, or any value (case=value)."""
        joins = [(case, in_thread(fn, case)) for case in cases]
        for case, join in joins:
            with self.subTest(**(case if isinstance(case, dict) else {"case": case})):
                join(timeout)

    def assertThreads(self, srv, expected, why):
        """The server runs `expected` threads of its own (a runtime may add a few)."""
        n = thread_count(srv.pid)
        if not expected <= n <= expected + RUNTIME_THREADS:
            self.fail("the server runs %d threads, expected %d: %s" % (n, expected, why))

    def assertFdsSettle(self, srv, baseline, timeout=5.0 * SLOW):
        """The server's open fd count comes back to baseline (connections closed)."""
        if not wait_until(lambda: srv.fd_count() <= baseline, timeout):
            fds = {}
            for fd in os.listdir("/proc/%d/fd" % srv.pid):
                try:
                    fds[int(fd)] = os.readlink("/proc/%d/fd/%s" % (srv.pid, fd))
                except OSError:
                    pass
            self.fail("server holds %d fds, %d before: %s" % (len(fds), baseline, sorted(fds.items())))


def in_thread(fn, *args):
    """Run fn(*args) in a daemon thread; join() returns its result or raises its exception."""
    box = {}

    def body():
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # handed to the joiner
            box["error"] = e

    t = threading.Thread(target=body, daemon=True)
    t.start()

    def join(timeout=IO_TIMEOUT * 3):
        t.join(timeout)
        if t.is_alive():
            raise AssertionError("worker thread still running after %.1fs" % timeout)
        if "error" in box:
            raise box["error"]
        return box.get("value")
    return join
