"""test_processes.py: `--processes N`: a supervisor and N worker processes serving the same inherited listeners in --mode (event, threading, forking); the ready line once every worker serves; a killed worker restarted at once, then with a growing backoff; SIGTERM/SIGINT drain every worker and the stop line sums them; SIGUSR1 sums their counters; SIGHUP replaces the workers with no connection refused or reset under load, a held connection kept by its old worker, TLS files read again (a broken one keeps the old workers) and TLS sessions resumed by any worker; chat with one process, or more only with --room; the operator's mistakes (exit 2) and workers that cannot start (exit 1)."""
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sockserv_harness import (BIN, alive, close_tls, live_children, IO_TIMEOUT, SLOW, STOP_TIMEOUT, Case, Conn, connect, in_thread,  # noqa: E402
                              require, run, self_signed_cert, wait_until)

TCP = "tcp://127.0.0.1:0"
GRACE = 10.0 * SLOW  # a generous bound on what should take a moment (a hang fails, slowness does not)
N = 3                # workers, unless a test says otherwise

# ---------------------------------------------------------------- processes


def workers(srv):
    """The supervisor's live children: its workers."""
    return set(live_children(srv.pid))


def socket_inodes(pid):
    """The inodes of the sockets process pid holds."""
    found = set()
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return found
    for fd in fds:
        try:
            m = re.fullmatch(r"socket:\[(\d+)\]", os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            continue
        if m:
            found.add(int(m.group(1)))
    return found


def tcp_inode(local_port, remote_port=None):
    """The inode of the IPv4 TCP socket bound to 127.0.0.1:local_port: the listener
    (remote_port None) or the connection from remote_port; None if not found."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
            if int(local.split(":")[1], 16) != local_port:
                continue
            if remote_port is None and state == "0A":  # LISTEN
                return inode
            if remote_port is not None and int(remote.split(":")[1], 16) == remote_port:
                return inode
    return None


def unix_inode(path):
    """The inode of the listening Unix socket bound to path."""
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == path:
                return int(fields[6])
    return None


def serving_worker(srv, conn):
    """The worker that holds the server's end of a TCP connection (it was accepted), itself
    or (forking mode) through its request process."""
    inode = tcp_inode(srv.address.addr[1], conn.sock.getsockname()[1])
    assert inode is not None, "the server's end of the connection is not in /proc/net/tcp"

    def holder():
        for pid in workers(srv):
            if any(inode in socket_inodes(p) for p in [pid] + live_children(pid)):
                return pid
        return None
    pid = wait_until(holder, GRACE)
    assert pid, "no worker holds the connection\n%s" % srv.describe()
    return pid


def refused(address):
    """True if a new connection is refused now (one that gets in is closed again)."""
    try:
        c = connect(address, timeout=2)
    except (ConnectionError, FileNotFoundError):
        return True
    c.close()
    return False


def sighup_pending(pid):
    """Whether a SIGHUP waits for process pid (not yet taken from its signalfd)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("ShdPnd:"):
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)))
    return False


def reports(srv):
    """The JSON lines SIGUSR1 printed on stderr, parsed."""
    return [json.loads(line) for line in srv.stderr().decode(errors="replace").splitlines()
            if line.startswith("{")]


def report(srv, until=lambda r: True):
    """SIGUSR1 until a JSON line satisfies until(r) (counters may lag a closing client); the last one."""
    def ask():
        before = len(reports(srv))
        os.kill(srv.pid, signal.SIGUSR1)
        if not wait_until(lambda: len(reports(srv)) > before, GRACE):
            raise AssertionError("no JSON line after SIGUSR1\n" + srv.describe())
        r = reports(srv)[-1]
        return r if until(r) else None
    r = wait_until(ask, GRACE, step=0.1)
    if not r:
        raise AssertionError("SIGUSR1: last report %s\n%s" % (reports(srv)[-1], srv.describe()))
    return r


STOP_LINE = re.compile(rb"^sockserv: stopped: accepted (\d+), refused (\d+), completed (\d+), errors (\d+),"
                       rb" accept errors (\d+), cancelled (\d+), dropped (\d+), tls failed (\d+)$", re.M)


def stop_counters(srv):
    """The stop line's counters: a dict; AssertionError if there is not exactly one."""
    lines = STOP_LINE.findall(srv.stderr())
    if len(lines) != 1:
        raise AssertionError("expected one stop line, got %d\n%s" % (len(lines), srv.describe()))
    keys = ("accepted", "refused", "completed", "errors", "accept_errors", "cancelled", "dropped", "tls_failed")
    return dict(zip(keys, map(int, lines[0])))


def sighup_lines(srv):
    return re.findall(rb"^sockserv: SIGHUP: .*$", srv.stderr(), re.M)


def reloaded(srv):
    return len([line for line in sighup_lines(srv) if b"SIGHUP: reloaded" in line])


def echo_once(srv, text=b"ping"):
    with connect(srv.address) as c:
        c.send(text + b"\n")
        assert c.recv_line() == text + b"\n"


class ProcCase(Case):
    def wait_workers(self, srv, n, exclude=()):
        """Wait until exactly n workers run, none of them in exclude; the set."""
        got = wait_until(lambda: (lambda w: w if len(w) == n and not (w & set(exclude)) else None)(workers(srv)),
                         GRACE)
        self.assertTrue(got, "expected %d workers (not %s), have %s\n%s"
                        % (n, sorted(exclude), sorted(workers(srv)), srv.describe()))
        return got

    def stop(self, srv, sig=signal.SIGTERM):
        """Stop (exit 0, nothing left behind): the stop line's counters."""
        srv.note_children()
        srv.stop(sig, timeout=STOP_TIMEOUT + GRACE)
        return stop_counters(srv)

# ---------------------------------------------------------------- start


class Start(ProcCase):
    def test_ready_once_when_every_worker_serves(self):
        # Two listeners, every mode: the ready lines come once (one a listener), when the
        # N workers, children of the supervisor, run; each worker holds the supervisor's
        # listening sockets themselves (inherited, not bound again); clients are served
        # by the chosen mode; the stop line sums the workers' counters.
        def case(mode):
            path = os.path.join(self.tmp, "ready-%s.sock" % mode)
            srv = self.server("echo", "--listen", TCP, "--listen", "unix:" + path, "--processes", str(N),
                              "--mode", mode, "--workers", "2", wait=False)
            urls = srv.wait_ready_lines(2)
            kids = workers(srv)
            self.assertEqual(len(kids), N, "workers when the ready lines came: %s" % kids)
            self.assertEqual(urls[1], "unix:" + path)
            listening = {tcp_inode(srv.address.addr[1]), unix_inode(path)}
            self.assertNotIn(None, listening)
            self.assertTrue(listening <= socket_inodes(srv.pid), "the supervisor holds its listeners")
            for pid in kids:
                self.assertTrue(listening <= socket_inodes(pid), "worker %d lacks a listener" % pid)
            # Three clients held open: the mode shows in the summed counters.
            held = [self.connect(u) for u in (urls[0], urls[1], urls[0])]
            for i, c in enumerate(held):
                c.send(b"held %d\n" % i)
                self.assertEqual(c.recv_line(), b"held %d\n" % i)
            r = report(srv, lambda r: r["active"] == 3)
            if mode == "event":
                self.assertEqual(r["threads"], 2 * 2 * N, "event loops: --workers 2 a listener a worker: %s" % r)
            elif mode == "threading":
                self.assertEqual(r["threads"], 3, "a thread a connection: %s" % r)
            elif mode == "forking":
                self.assertEqual(r["children"], 3, "a process a connection: %s" % r)
                grandchildren = [p for w in kids for p in live_children(w)]
                self.assertEqual(len(grandchildren), 3, "request processes of the workers")
            for c in held:
                c.close()
            for i in range(5):
                echo_once(srv, b"more %d" % i)
            self.assertEqual(workers(srv), kids, "a worker changed while serving")
            out = srv.stdout().decode()
            self.assertEqual(out.count("listening on"), 2, out)
            counters = self.stop(srv)
            self.assertEqual((counters["accepted"], counters["completed"], counters["errors"]), (8, 8, 0),
                             srv.describe())
            self.assertFalse(os.path.exists(path), "the Unix socket file was left")
        self.at_once(["event", "threading", "forking"], case)

# ---------------------------------------------------------------- restart


RESTART = re.compile(rb"^sockserv: worker (\d+) was killed by signal 9 \([^)]*\) after [0-9.]+ s; "
                     rb"restarting it(?: in ([0-9.]+) s)?$", re.M)


class Restart(ProcCase):
    def test_killed_worker_restarted_then_backoff_grows(self):
        srv = self.server("echo", "--listen", TCP, "--processes", "2", "--mode", "event")
        kids = self.wait_workers(srv, 2)
        other = min(kids)
        victim = max(kids)
        delays, waited = [], []
        for i in range(5):
            t0 = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            now = self.wait_workers(srv, 2, exclude=[victim])
            waited.append(time.monotonic() - t0)
            self.assertIn(other, now, "the other worker was touched")
            lines = RESTART.findall(srv.stderr())
            self.assertEqual(len(lines), i + 1, srv.describe())
            self.assertEqual(int(lines[-1][0]), victim, "the line names the worker that died")
            delays.append(float(lines[-1][1]) if lines[-1][1] else 0.0)
            (victim,) = now - {other}
            echo_once(srv, b"after restart %d" % i)
        # At once the first time, then delays that grow; each restart came no sooner
        # than its delay (a lower bound only: a busy machine may be later).
        self.assertEqual(delays[0], 0.0, "the first restart is at once: %s" % delays)
        self.assertGreater(delays[1], 0, delays)
        for a, b in zip(delays[1:], delays[2:]):
            self.assertGreater(b, a, "the backoff does not grow: %s" % delays)
        for d, w in zip(delays, waited):
            self.assertGreaterEqual(w, d, "restarted before its delay: delays %s, waited %s" % (delays, waited))
        print("\n  restart delays announced %s s, observed %s s"
              % (delays, ["%.2f" % w for w in waited]), file=sys.stderr)
        self.stop(srv)

# ---------------------------------------------------------------- stop


class Stop(ProcCase):
    def test_signal_drains_every_worker(self):
        # A client in flight in each of two workers' hands goes on talking after the signal
        # (to the supervisor, or to the process group as a terminal's ^C) and ends on its
        # own; new clients are refused meanwhile, as by a single process (not left in the
        # backlog to be reset at the end); the supervisor exits 0 once every worker
        # stopped, well before the drain's end, and the stop line sums the workers.
        def case(p):
            sig = signal.Signals[p["sig"]]
            srv = self.server("echo", "--listen", TCP, "--processes", "2", "--mode", p["mode"],
                              "--drain", "60")
            held = []
            for i in range(12):  # until two workers each hold one
                c = self.connect(srv)
                c.send(b"x\n")
                self.assertEqual(c.recv_line(), b"x\n")
                held.append((serving_worker(srv, c), c))
                if len({w for w, _ in held}) == 2:
                    break
            kids = workers(srv)
            srv.note_children()
            t0 = time.monotonic()
            if p["group"]:
                os.killpg(srv.pid, sig)
            else:
                os.kill(srv.pid, sig)
            self.assertTrue(wait_until(lambda: refused(srv.address), GRACE, step=0.05),
                            "still taking connections during the drain\n" + srv.describe())
            self.assertTrue(srv.running(), "the supervisor ended before its workers drained")
            for i, (_, c) in enumerate(held):
                c.send(b"during the drain %d\n" % i)
                self.assertEqual(c.recv_line(), b"during the drain %d\n" % i)
                c.send(b"last")
                c.shutdown_write()
                self.assertEqual(c.recv_until_closed(), (b"last", "eof"))
            code = srv.wait_exit(GRACE + STOP_TIMEOUT)
            self.assertIsNotNone(code, "did not exit once the clients ended\n" + srv.describe())
            self.assertLess(time.monotonic() - t0, 60, "waited for the drain's end")
            srv.check_exit(code, 0)
            self.assertFalse([k for k in kids if alive(k)], "workers left")
            counters = stop_counters(srv)
            # (A probe of refused() may have got in before the workers stopped accepting.)
            self.assertGreaterEqual(counters["accepted"], len(held), srv.describe())
            # An event loop's accept() in flight as the supervisor shuts the listener
            # down fails: that is the stop, not an accept error.
            self.assertEqual((counters["completed"], counters["errors"], counters["accept_errors"]),
                             (counters["accepted"], 0, 0), srv.describe())
        self.at_once([dict(mode=m, sig=s, group=g) for m, s, g in (
            ("event", "SIGTERM", False), ("threading", "SIGINT", True), ("forking", "SIGTERM", False),
            ("event", "SIGINT", True))], case)

    def test_idle_clients_cut_at_the_drain(self):
        # An idle client does not keep the supervisor alive past --drain.
        srv = self.server("echo", "--listen", TCP, "--processes", "2", "--drain", "1")
        c = self.connect(srv)
        c.send(b"x\n")
        c.recv_line()
        os.kill(srv.pid, signal.SIGTERM)
        self.assertEqual(c.recv_until_closed(timeout=1 + GRACE)[0], b"")
        srv.check_exit(srv.wait_exit(GRACE), 0)

# ---------------------------------------------------------------- SIGUSR1


class Counters(ProcCase):
    def test_sigusr1_sums_the_workers(self):
        # Requests served by the first workers (which end at a reload) and by the next ones:
        # one JSON line with the sum, the ended workers' included.
        srv = self.server("echo", "--listen", TCP, "--processes", str(N), "--mode", "threading")
        for i in range(6):
            echo_once(srv, b"a%d" % i)
        # (A request is counted completed just before it leaves the active ones.)
        r = report(srv, lambda r: r["completed"] == 6 and r["active"] == 0)
        self.assertEqual((r["accepted"], r["active"], r["errors"]), (6, 0, 0), r)
        first = workers(srv)
        os.kill(srv.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: reloaded(srv) == 1, GRACE), srv.describe())
        self.wait_workers(srv, N, exclude=first)
        held = self.connect(srv)
        held.send(b"held\n")
        held.recv_line()
        for i in range(4):
            echo_once(srv, b"b%d" % i)
        r = report(srv, lambda r: r["completed"] == 10 and r["active"] == 1)
        self.assertEqual((r["accepted"], r["active"]), (11, 1), r)
        keys = ["accepted", "refused", "completed", "errors", "accept_errors", "cancelled", "dropped",
                "tls_failed", "active", "threads", "children"]
        detailed = ["bytes_in", "bytes_out", "duration_sum_us", "duration_p50_us", "duration_p99_us"]
        self.assertIn(list(r), (keys, keys + detailed))
        if "bytes_in" in r:  # each b%d echoed, with its newline: 3 bytes each way; the held one's not yet
            self.assertEqual((r["bytes_in"], r["bytes_out"]), (30, 30), r)
        # One line a signal, never one a worker.
        before = len(reports(srv))
        os.kill(srv.pid, signal.SIGUSR1)
        self.assertTrue(wait_until(lambda: len(reports(srv)) > before, GRACE), srv.describe())
        time.sleep(0.3)
        self.assertEqual(len(reports(srv)), before + 1, srv.describe())
        self.assertEqual(reports(srv)[-1]["accepted"], 11)
        held.close()
        counters = self.stop(srv)
        self.assertEqual((counters["accepted"], counters["completed"]), (11, 11))

# ---------------------------------------------------------------- reload


def load(address, stop, tally, lock, n):
    """A client in a loop: connect, send a line, read its echo, close; each outcome counted."""
    i = 0
    while not stop.is_set():
        text = b"%d-%d\n" % (n, i)
        i += 1
        try:
            c = connect(address, timeout=IO_TIMEOUT)
        except ConnectionRefusedError:
            outcome = "refused"
        except ConnectionResetError:
            outcome = "reset"
        except OSError as e:
            outcome = "other: connect: %r" % e
        else:
            try:
                c.send(text)
                got = c.recv_line()
                outcome = "done" if got == text else "other: echo %r" % got
            except (ConnectionResetError, BrokenPipeError):
                outcome = "reset"
            except AssertionError as e:  # recv_line: EOF, reset or timeout
                outcome = "reset" if "Reset" in str(e) or "reset" in str(e) else "other: %s" % e
            except OSError as e:
                outcome = "other: %r" % e
            finally:
                c.close()
        with lock:
            tally[outcome] = tally.get(outcome, 0) + 1


RELOADS = 5
CLIENTS = 4


class Reload(ProcCase):
    def test_no_connection_refused_or_reset_under_load(self):
        # CLIENTS threads connect, echo a line and close in a loop while RELOADS SIGHUPs
        # replace every worker: no client is ever refused or reset.
        def case(mode):
            srv = self.server("echo", "--listen", TCP, "--processes", "2", "--mode", mode, "--drain", "10")
            stop, lock, tally = threading.Event(), threading.Lock(), {}
            joins = [in_thread(load, srv.address, stop, tally, lock, n) for n in range(CLIENTS)]
            try:
                for i in range(1, RELOADS + 1):
                    before = workers(srv)
                    time.sleep(0.3)  # load on these workers
                    os.kill(srv.pid, signal.SIGHUP)
                    self.assertTrue(wait_until(lambda: reloaded(srv) == i, GRACE), srv.describe())
                    self.wait_workers(srv, 2, exclude=before)  # the old ones drained and ended
                time.sleep(0.3)
            finally:
                stop.set()
                for join in joins:
                    join(GRACE + IO_TIMEOUT)
            summary = "%s, --processes 2: %d reloads, %d requests done, %d refused, %d reset, other %s" % (
                mode, RELOADS, tally.get("done", 0), tally.get("refused", 0), tally.get("reset", 0),
                {k: v for k, v in tally.items() if k.startswith("other")})
            print("\n  reload under load: " + summary, file=sys.stderr)
            self.assertEqual((tally.get("refused", 0), tally.get("reset", 0)), (0, 0), summary)
            self.assertEqual(set(tally), {"done"}, summary)
            self.assertGreater(tally["done"], RELOADS * CLIENTS, summary)
            self.assertEqual(srv.stdout().decode(), "listening on %s\n" % srv.url, "ready lines again")
            counters = self.stop(srv)
            self.assertEqual(counters["completed"], tally["done"], srv.describe())
            self.assertEqual(counters["errors"], 0)
        self.at_once(["event", "threading", "forking"], case)

    def test_held_connection_stays_with_its_old_worker(self):
        srv = self.server("echo", "--listen", TCP, "--processes", "2", "--mode", "event", "--drain", "60")
        old = self.wait_workers(srv, 2)
        c = self.connect(srv)
        c.send(b"before\n")
        self.assertEqual(c.recv_line(), b"before\n")
        keeper = serving_worker(srv, c)
        os.kill(srv.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: reloaded(srv) == 1, GRACE), srv.describe())
        # The other old worker, idle, ends; the one holding the client serves on.
        self.assertTrue(wait_until(lambda: len(workers(srv) & old) == 1, GRACE), srv.describe())
        self.assertEqual(workers(srv) & old, {keeper})
        for i in range(3):
            c.send(b"after the reload %d\n" % i)
            self.assertEqual(c.recv_line(), b"after the reload %d\n" % i)
            d = self.connect(srv)
            d.send(b"new\n")
            self.assertEqual(d.recv_line(), b"new\n")
            self.assertNotIn(serving_worker(srv, d), old, "a new connection went to an old worker")
            d.close()
        self.assertEqual(serving_worker(srv, c), keeper)
        c.close()
        self.assertTrue(wait_until(lambda: not alive(keeper), GRACE), "the old worker did not end")
        self.assertEqual(len(workers(srv)), 2)
        self.stop(srv)

    def test_two_sighups_in_a_row(self):
        # A SIGHUP during a reload is not lost: a second reload follows the first; then
        # N workers serve, none of the first ones.
        srv = self.server("echo", "--listen", TCP, "--processes", "2")
        first = workers(srv)
        os.kill(srv.pid, signal.SIGHUP)
        # Two signals pending at once are one: the second goes once the first was taken.
        self.assertTrue(wait_until(lambda: not sighup_pending(srv.pid), GRACE), "SIGHUP never taken")
        os.kill(srv.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: reloaded(srv) == 2, GRACE), srv.describe())
        self.wait_workers(srv, 2, exclude=first)
        echo_once(srv)
        time.sleep(0.3)
        self.assertEqual(reloaded(srv), 2)
        self.stop(srv)

# ---------------------------------------------------------------- TLS


class TlsCase(ProcCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = os.path.join(os.environ.get("TMPDIR", "/tmp"), "sockserv-proc-pki-%d" % os.getpid())
        os.makedirs(cls.pki, exist_ok=True)
        try:
            cls.certs = []
            for name in ("a", "b"):
                d = os.path.join(cls.pki, name)
                os.makedirs(d, exist_ok=True)
                cls.certs.append(self_signed_cert(d))
        except BaseException:
            shutil.rmtree(cls.pki, True)
            raise

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, True)

    def setUp(self):
        super().setUp()
        self.cert = os.path.join(self.tmp, "cert.pem")
        self.key = os.path.join(self.tmp, "key.pem")
        self.install(0)
        # Two self-signed certificates of one name: the client checks which one it got
        # by its bytes (der), not by a chain.
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE

    def install(self, i):
        """Put certificate i (and its key) in the live files, each replaced at once."""
        for src, dst in zip(self.certs[i], (self.cert, self.key)):
            shutil.copyfile(src, dst + ".new")
            os.replace(dst + ".new", dst)

    def der(self, i):
        with open(self.certs[i][0]) as f:
            return ssl.PEM_cert_to_DER_cert(f.read())

    def tls_server(self, *args):
        return self.server("echo", "--listen", "tls://127.0.0.1:0", "--tls-cert", self.cert,
                           "--tls-key", self.key, *args)

    def tls_connect(self, srv, session=None):
        raw = connect(srv.address).sock
        try:
            c = Conn(self.ctx.wrap_socket(raw, server_hostname="localhost", session=session))
        except BaseException:
            raw.close()
            raise
        self.addCleanup(c.close)
        return c

    def exchange(self, c, text):
        c.send(text + b"\n")
        self.assertEqual(c.recv_line(), text + b"\n")



class Tls(TlsCase):
    def test_reload_reads_the_files_again_and_a_broken_one_keeps_the_workers(self):
        srv = self.tls_server("--processes", "2", "--mode", "event")
        c = self.tls_connect(srv)
        self.assertEqual(c.sock.getpeercert(binary_form=True), self.der(0))
        close_tls(c)
        # A broken certificate: the new workers cannot start, the old ones serve on, and
        # stderr says so.
        old = workers(srv)
        with open(self.cert, "w") as f:
            f.write("not a certificate\n")
        os.kill(srv.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: any(b"reload failed" in ln for ln in sighup_lines(srv)), GRACE),
                        srv.describe())
        line = [ln for ln in sighup_lines(srv) if b"reload failed" in ln][-1].decode()
        self.assertIn("previous workers serve on", line)
        self.assertIn("--tls-cert", srv.stderr().decode(), "the broken file is named")
        self.assertTrue(wait_until(lambda: workers(srv) == old, GRACE), "workers %s, before %s" % (workers(srv), old))
        time.sleep(0.3)
        self.assertEqual(workers(srv), old, "the old workers did not serve on")
        self.assertEqual(reloaded(srv), 0)
        c = self.tls_connect(srv)
        self.assertEqual(c.sock.getpeercert(binary_form=True), self.der(0))
        self.exchange(c, b"still served")
        close_tls(c)
        # A new certificate: new workers, which read it.
        self.install(1)
        os.kill(srv.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: reloaded(srv) == 1, GRACE), srv.describe())
        self.wait_workers(srv, 2, exclude=old)
        c = self.tls_connect(srv)
        self.assertEqual(c.sock.getpeercert(binary_form=True), self.der(1))
        self.exchange(c, b"new certificate")
        close_tls(c)
        counters = self.stop(srv)
        self.assertEqual((counters["completed"], counters["errors"], counters["tls_failed"]), (3, 0, 0))
        self.assertIn(b"--tls-cert", srv.stderr())

    def test_session_resumes_on_any_worker_and_across_a_reload(self):
        def case(mode):
            srv = self.tls_server("--processes", str(N), "--mode", mode)
            first = self.tls_connect(srv)
            self.exchange(first, b"first")  # the session ticket came before the echo
            self.assertFalse(first.sock.session_reused)
            session = first.sock.session
            gone = serving_worker(srv, first)
            close_tls(first)
            # The worker that made the session dies: another one resumes it.
            os.kill(gone, signal.SIGKILL)
            self.wait_workers(srv, N, exclude=[gone])
            served_by = set()
            for i in range(4):
                c = self.tls_connect(srv, session=session)
                self.assertTrue(c.sock.session_reused, "connection %d did not resume" % i)
                self.exchange(c, b"again %d" % i)
                served_by.add(serving_worker(srv, c))
                close_tls(c)
            self.assertNotIn(gone, served_by)
            # Every worker replaced by a reload: the new ones resume it too.
            before = workers(srv)
            os.kill(srv.pid, signal.SIGHUP)
            self.assertTrue(wait_until(lambda: reloaded(srv) == 1, GRACE), srv.describe())
            self.wait_workers(srv, N, exclude=before)
            for i in range(3):
                c = self.tls_connect(srv, session=session)
                self.assertTrue(c.sock.session_reused, "connection %d after the reload did not resume" % i)
                self.exchange(c, b"after reload %d" % i)
                self.assertNotIn(serving_worker(srv, c), before)
                close_tls(c)
            counters = self.stop(srv)
            self.assertEqual((counters["errors"], counters["tls_failed"]), (0, 0))
        self.at_once(["event", "threading"], case)

# ---------------------------------------------------------------- chat


class Chat(ProcCase):
    def test_chat_needs_one_process(self):
        for n in ("2", "64"):
            code, out, err = run(["chat", "--listen", TCP, "--processes", n])
            self.assertEqual(code, 2, err)
            self.assertEqual(out, "")
            first = err.splitlines()[0]
            self.assertIn("chat", first)
            self.assertIn("between processes", first)
            self.assertIn("--processes 1", first)
            self.assertIn("--room", first)  # the way to share it (tests/cli/test_room.py)

    def test_chat_with_one_process(self):
        srv = self.server("chat", "--listen", TCP, "--processes", "1", "--drain", "0.5")
        self.assertEqual(len(workers(srv)), 1)
        a = self.connect(srv)
        a.send(b"joined\n")  # in the room once its own line comes back
        self.assertEqual(a.recv_line(), a.hostport().encode() + b" joined\n")
        b = self.connect(srv)
        b.send(b"joined\n")
        self.assertEqual(b.recv_line(), b.hostport().encode() + b" joined\n")
        self.assertTrue(a.recv_line().endswith(b" joined\n"))  # b's
        a.send(b"hello from a\n")
        for m in (a, b):
            line = m.recv_line()
            self.assertEqual(line, a.hostport().encode() + b" hello from a\n")
        b.send(b"hi a\n")
        line = a.recv_line()
        self.assertTrue(line.endswith(b" hi a\n"), line)
        self.assertEqual(line[:-len(b" hi a\n")].decode(), b.hostport())
        self.stop(srv)

# ---------------------------------------------------------------- mistakes


class Mistakes(ProcCase):
    def test_bad_counts_exit_2(self):
        for value in ("0", "65", "abc", "-1", "", "2x", "99999999999999999999999"):
            with self.subTest(value=value):
                code, out, err = run(["echo", "--listen", TCP, "--processes", value])
                self.assertEqual(code, 2, err)
                self.assertEqual(out, "")
                self.assertIn("--processes", err.splitlines()[0])
                self.assertIn("1 to 64", err.splitlines()[0])

    def cannot_fork(self, nproc, *args):
        """Run the program as a user of its own with at most nproc processes (threads count)."""
        require(os.geteuid() == 0, "the test runs the program as another user with a process limit: needs root",
                "run the tests as root (e.g. in a container)")
        setpriv, prlimit = shutil.which("setpriv"), shutil.which("prlimit")
        require(setpriv and prlimit, "setpriv and prlimit (util-linux) are not installed", "apt-get install util-linux")
        uid = 54000 + os.getpid() % 1000  # a user no process runs as: the limit counts from 1
        cmd = [setpriv, "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups", prlimit, "--nproc=%d" % nproc,
               BIN] + list(args)
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=STOP_TIMEOUT + GRACE,
                           start_new_session=True)
        left = subprocess.run(["ps", "-o", "pid=", "-u", str(uid)], capture_output=True).stdout.split()
        self.assertEqual(left, [], "processes left behind")
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def test_first_workers_cannot_start_exit_1(self):
        # No worker can be forked; then (a limit of 3) the first worker starts but not
        # the others (or not its threads): never a ready line, exit 1, nothing left.
        for nproc, mode in ((1, "event"), (3, "sync"), (4, "threading")):
            with self.subTest(nproc=nproc, mode=mode):
                code, out, err = self.cannot_fork(nproc, "echo", "--listen", TCP, "--mode", mode,
                                                  "--processes", "3")
                self.assertEqual(code, 1, err)
                self.assertNotIn("listening on", out)
                self.assertRegex(err, r"cannot start")
                self.assertNotIn("stopped:", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
