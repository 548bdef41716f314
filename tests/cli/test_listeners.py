"""test_listeners.py: several --listen in one process (TCP, Unix, UDP, echo and chat across them, one ready line each, one stop line with the sums), and systemd socket activation faked by a launcher that passes sockets as fds 3.. (served instead of binding, their kinds read from them, TLS on the TCP ones, malformed variables and --listen refused, the variables gone from children)."""
import json
import os
import re
import signal
import socket
import ssl
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sockserv_harness import (BIN, IO_TIMEOUT, PROGRAM_THREADS, RUNTIME_THREADS, SLOW, USAGE_HINT, Case, Conn,  # noqa: E402
                              children_of, connect, ipv6_available, program_has_tls, run, self_signed_cert,
                              thread_count,
                              unique, wait_until)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fault"))
import fault_harness as fh  # noqa: E402  (the stop line's counters)

GRACE = 10 * SLOW


def json_reports(srv):
    """The JSON lines SIGUSR1 printed on stderr."""
    return [json.loads(line) for line in srv.stderr().decode(errors="replace").splitlines()
            if line.startswith("{")]


def exchange(test, url, text):
    """One request on a sockserv URL: a line on a stream, a datagram otherwise."""
    c = connect(url)
    try:
        if isinstance(c, Conn):
            c.send(text + b"\n")
            test.assertEqual(c.recv_line(), text + b"\n")
        else:
            c.send(text)
            test.assertEqual(c.recv(), text)
    finally:
        c.close()


def urls_match(given, printed):
    """A ready line's URL is the --listen URL given, its port 0 resolved."""
    if given.endswith(":0"):
        return printed.startswith(given[:-1]) and printed[len(given) - 1:].isdigit()
    return printed == given

# ---------------------------------------------------------------- several --listen


class Several(Case):
    def kinds(self, tag):
        urls = ["tcp://127.0.0.1:0", "unix:" + os.path.join(self.tmp, "%s.sock" % tag), "udp://127.0.0.1:0",
                "unix-dgram:" + os.path.join(self.tmp, "%s-d.sock" % tag), "unix:@" + unique("listeners")]
        if ipv6_available():
            urls.append("tcp://[::1]:0")
        return urls

    def test_echo_on_every_listener_every_mode(self):
        # One process, one ready line a listener in the order given, each served in the
        # mode; SIGUSR1 and the stop line give the sums over the listeners.
        def case(mode):
            given = self.kinds(mode)
            args = ["echo", "--mode", mode, "--drain", "1"]
            for url in given:
                args += ["--listen", url]
            srv = self.server(*args, wait=False)
            printed = srv.wait_ready_lines(len(given))
            for g, p in zip(given, printed):
                self.assertTrue(urls_match(g, p), "given %s, ready line says %s" % (g, p))
            for i, url in enumerate(printed):
                for k in range(2):
                    exchange(self, url, b"to %d, request %d" % (i, k))
            requests = 2 * len(printed)
            os.kill(srv.pid, signal.SIGUSR1)
            self.assertTrue(wait_until(lambda: json_reports(srv), GRACE), srv.describe())
            self.assertEqual(json_reports(srv)[0]["accepted"], requests, srv.describe())
            srv.stop()
            counters = fh.stopped_counters(srv)
            self.assertEqual((counters["accepted"], counters["completed"], counters["errors"]),
                             (requests, requests, 0), srv.describe())
            for url in printed:
                path = url.split(":", 1)[1]
                if url.startswith("unix") and not path.startswith("@"):
                    self.assertFalse(os.path.exists(path), "%s left behind" % path)
        self.at_once(["threading", "event", "forking", "sync", "pool"], case)

    def test_chat_one_room_for_every_listener(self):
        # A member on any listener sees every line, from members of every listener.
        srv = self.server("chat", "--listen", "tcp://127.0.0.1:0", "--listen",
                          "unix:" + os.path.join(self.tmp, "chat.sock"), "--mode", "event", wait=False)
        tcp_url, unix_url = srv.wait_ready_lines(2)
        a = self.connect(tcp_url)
        b = self.connect(unix_url)

        def skip_to(c, token):
            while not c.recv_line().endswith(b" " + token + b"\n"):
                pass

        # Each in the room (its own line back), then each has read all said so far.
        for c in (a, b):
            token = unique("join").encode()
            c.send(token + b"\n")
            skip_to(c, token)
        token = unique("settle").encode()
        a.send(token + b"\n")
        for c in (a, b):
            skip_to(c, token)
        for who, c in (("a", a), ("b", b)):
            c.send(b"hello from %s\n" % who.encode())
            for member in (a, b):
                line = member.recv_line()
                self.assertTrue(line.endswith(b" hello from %s\n" % who.encode()), line)
        a.send(b"quit\n")
        b.send(b"quit\n")
        a.recv_until_closed()
        b.recv_until_closed()
        srv.stop()
        counters = fh.stopped_counters(srv)
        self.assertEqual((counters["accepted"], counters["completed"], counters["errors"]), (2, 2, 0))

    def test_chat_prefix_names_the_listeners_client(self):
        srv = self.server("chat", "--listen", "unix:" + os.path.join(self.tmp, "p.sock"), "--listen",
                          "tcp://127.0.0.1:0", wait=False)
        urls = srv.wait_ready_lines(2)
        c = self.connect(urls[1])
        c.send(b"hi\n")
        self.assertEqual(c.recv_line(), b"%s hi\n" % c.hostport().encode())
        c.close()
        srv.stop()

    def test_one_thread_a_listener_beyond_the_first(self):
        # Each listener serves on its own thread, the first on the main one: with
        # event --workers 1, three listeners add two serving threads and three loops.
        srv = self.server("echo", "--mode", "event", "--workers", "1", "--listen", "tcp://127.0.0.1:0",
                          "--listen", "tcp://127.0.0.1:0", "--listen", "udp://127.0.0.1:0", wait=False)
        srv.wait_ready_lines(3)
        expected = PROGRAM_THREADS + 2 + 3
        self.assertTrue(wait_until(lambda: expected <= thread_count(srv.pid) <= expected + RUNTIME_THREADS,
                                   GRACE), "%d threads, expected %d" % (thread_count(srv.pid), expected))
        srv.stop()

    def test_sighup_without_tls_says_so_once(self):
        srv = self.server("echo", "--listen", "tcp://127.0.0.1:0", "--listen", "udp://127.0.0.1:0", wait=False)
        srv.wait_ready_lines(2)
        os.kill(srv.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: b"nothing to reload" in srv.stderr(), GRACE), srv.describe())
        srv.stop()
        self.assertEqual(srv.stderr().count(b"SIGHUP"), 1, srv.describe())

    def test_usage_errors(self):
        sixty_five = []
        for _ in range(65):
            sixty_five += ["--listen", "tcp://127.0.0.1:0"]
        for args, words in (
                (["echo"] + sixty_five, ["too many --listen", "64"]),
                (["echo", "--listen", "tcp://127.0.0.1:0", "--listen", "tcp://nowhere"],
                 ["invalid --listen URL 'tcp://nowhere'"]),
                (["chat", "--listen", "tcp://127.0.0.1:0", "--listen", "udp://127.0.0.1:0"],
                 ["chat needs a stream transport", "udp://127.0.0.1:0"]),
                (["echo", "--listen", "tcp://127.0.0.1:0", "--listen", "unix:/tmp/never.sock",
                  "--allow", "127.0.0.1"], ["--allow", "unix:/tmp/never.sock"]),
                (["echo", "--listen", "tcp://127.0.0.1:0", "--listen", "udp://127.0.0.1:0",
                  "--socket-mode", "0600"], ["--socket-mode", "tcp://127.0.0.1:0"])):
            with self.subTest(args=args[:6]):
                self.assertUsageError(run(args), words)

    def test_second_listener_cannot_bind(self):
        # Exit 1 naming the address in use; the first listener's socket file is removed.
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            path = os.path.join(self.tmp, "first.sock")
            code, out, err = run(["echo", "--listen", "unix:" + path, "--listen", "tcp://127.0.0.1:%d" % port])
        self.assertEqual(code, 1, err)
        self.assertEqual(out, "")
        self.assertEqual(err, "sockserv: cannot listen on tcp://127.0.0.1:%d: address already in use\n" % port)
        self.assertFalse(os.path.exists(path), "the first listener's socket file was left behind")

# ---------------------------------------------------------------- socket activation

# Run as `python3 -c LAUNCHER FDS ENV PROGRAM ARGS...`: move the inherited descriptors
# FDS (comma-separated) to 3, 4, ... in order, set the variables of ENV (JSON; "$PID"
# is this process's pid, which exec keeps) over LISTEN_PID=$PID LISTEN_FDS=N, and exec
# PROGRAM: what systemd does for a service with sockets, in its child after the fork.
LAUNCHER = r"""
import fcntl, json, os, sys
fds = [int(x) for x in sys.argv[1].split(",") if x]
env = dict(os.environ, LISTEN_PID="$PID", LISTEN_FDS=str(len(fds)))
env.update(json.loads(sys.argv[2]))
env = {k: v.replace("$PID", str(os.getpid())) for k, v in env.items() if v is not None}
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
for fd in fds:
    os.close(fd)
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)
    os.close(fd)
os.execve(sys.argv[3], sys.argv[3:], env)
"""


def passed_socket(family, stype, addr=None, listen=True):
    s = socket.socket(family, stype)
    s.bind(addr if addr is not None else (("::1" if family == socket.AF_INET6 else "127.0.0.1"), 0))
    if listen and stype == socket.SOCK_STREAM:
        s.listen(64)
    return s


class Activation(Case):
    def activated(self, socks, *args, env=None, wait=0):
        """sockserv started with socks passed as fds 3.. (env overriding the variables);
        with wait, its ready lines (that many) waited for."""
        fds = [s.fileno() for s in socks]
        srv = self.server("-c", LAUNCHER, ",".join(map(str, fds)), json.dumps(env or {}), BIN, *args,
                          exe=sys.executable, pass_fds=fds, wait=False)
        for s in socks:
            s.close()  # the server holds them now
        if wait:
            srv.urls = srv.wait_ready_lines(wait)
        return srv

    def run_activated(self, socks, *args, env=None):
        """The same run to its end: (code, stdout, stderr)."""
        srv = self.activated(socks, *args, env=env)
        code = srv.wait_exit(GRACE)
        self.assertIsNotNone(code, "still running\n" + srv.describe())
        return code, srv.stdout().decode(errors="replace"), srv.stderr().decode(errors="replace")

    def test_passed_sockets_served_instead_of_binding(self):
        # TCP (listening, and bound only: put to listen), UDP, Unix stream: each served,
        # its URL in the ready lines in order; at the end, the Unix file is left (it is
        # systemd's, not ours).
        path = os.path.join(self.tmp, "passed.sock")
        socks = [passed_socket(socket.AF_INET, socket.SOCK_STREAM),
                 passed_socket(socket.AF_INET, socket.SOCK_STREAM, listen=False),
                 passed_socket(socket.AF_INET, socket.SOCK_DGRAM),
                 passed_socket(socket.AF_UNIX, socket.SOCK_STREAM, path)]
        expect = ["tcp://127.0.0.1:%d" % socks[0].getsockname()[1],
                  "tcp://127.0.0.1:%d" % socks[1].getsockname()[1],
                  "udp://127.0.0.1:%d" % socks[2].getsockname()[1], "unix:" + path]
        if ipv6_available():
            socks.append(passed_socket(socket.AF_INET6, socket.SOCK_STREAM))
            expect.append("tcp://[::1]:%d" % socks[-1].getsockname()[1])
        srv = self.activated(socks, "echo", "--mode", "event", wait=len(socks))
        self.assertEqual(srv.urls, expect)
        for url in srv.urls:
            exchange(self, url, b"through " + url.encode())
        srv.stop()
        counters = fh.stopped_counters(srv)
        self.assertEqual((counters["accepted"], counters["completed"]), (len(expect), len(expect)))
        self.assertTrue(os.path.exists(path), "the Unix socket file systemd made was removed")

    def test_tls_on_the_passed_tcp_sockets(self):
        cert, key = self_signed_cert(self.tmp)
        socks = [passed_socket(socket.AF_INET, socket.SOCK_STREAM),
                 passed_socket(socket.AF_UNIX, socket.SOCK_STREAM, os.path.join(self.tmp, "plain.sock"))]
        port = socks[0].getsockname()[1]
        srv = self.activated(socks, "echo", "--tls-cert", cert, "--tls-key", key, wait=2)
        self.assertEqual(srv.urls[0], "tls://127.0.0.1:%d" % port)
        self.assertTrue(srv.urls[1].startswith("unix:"), srv.urls)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cert)
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT),
                             server_hostname="localhost") as s:
            s.sendall(b"secret\n")
            self.assertEqual(Conn(s).recv_line(), b"secret\n")
            s.unwrap()
        exchange(self, srv.urls[1], b"plain on unix")
        srv.stop()

    def test_listen_with_passed_sockets_is_a_usage_error(self):
        socks = [passed_socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(2)]
        code, out, err = self.run_activated(socks, "echo", "--listen", "tcp://127.0.0.1:0")
        self.assertEqual(code, 2, err)
        self.assertEqual(out, "")
        self.assertEqual(err, "sockserv: --listen cannot be combined with sockets passed by systemd "
                              "(LISTEN_FDS=2)\n" + USAGE_HINT + "\n")

    def test_malformed_variables(self):
        for env, words in (({"LISTEN_FDS": "two"}, ["LISTEN_FDS"]),
                           ({"LISTEN_FDS": "0"}, ["LISTEN_FDS"]),
                           ({"LISTEN_FDS": "2"}, ["LISTEN_FDS=2", "descriptor 4 is not open"]),
                           ({"LISTEN_PID": "12x"}, ["LISTEN_PID"])):
            with self.subTest(env=env):
                self.assertUsageError(self.run_activated([passed_socket(socket.AF_INET, socket.SOCK_STREAM)],
                                                         "echo", env=env),
                                      words, starts="sockserv: cannot take the sockets passed by systemd: ")

    def test_options_that_do_not_apply(self):
        for socks, args, words in (
                ([passed_socket(socket.AF_INET, socket.SOCK_DGRAM)], ["chat"], ["chat", "fd 3"]),
                ([passed_socket(socket.AF_INET, socket.SOCK_STREAM), passed_socket(socket.AF_INET, socket.SOCK_DGRAM)],
                 ["echo", "--proxy-protocol"], ["--proxy-protocol", "fd 4"]),
                ([passed_socket(socket.AF_INET, socket.SOCK_STREAM)], ["echo", "--socket-mode", "0600"],
                 ["--socket-mode"]),
                ([passed_socket(socket.AF_INET, socket.SOCK_STREAM)], ["echo", "--tls-cert", "c.pem"],
                 ["--tls-cert needs --tls-key"] if program_has_tls() else ["--tls-cert", "built without TLS"])):
            with self.subTest(args=args):
                self.assertUsageError(self.run_activated(socks, *args), words)

    def test_variables_for_another_process_are_ignored(self):
        # LISTEN_PID names another process (a parent's variables passed on by mistake):
        # nothing is taken, --listen is no conflict, and the variables go all the same.
        sock = passed_socket(socket.AF_INET, socket.SOCK_STREAM)
        passed = "tcp://127.0.0.1:%d" % sock.getsockname()[1]
        srv = self.activated([sock], "echo", "--listen", "tcp://127.0.0.1:0", env={"LISTEN_PID": "1"}, wait=1)
        self.assertNotEqual(srv.urls[0], passed)
        self.assertNotIn(b"LISTEN_", self.environ(srv.pid))
        srv.stop()

    def environ(self, pid):
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read()

    def test_children_do_not_see_the_variables(self):
        # Neither the program (what /proc shows of its environment) nor a request process
        # (forking mode) nor a worker (--processes) nor its request processes.
        for extra in ([], ["--processes", "2"]):
            with self.subTest(extra=extra):
                srv = self.activated([passed_socket(socket.AF_INET, socket.SOCK_STREAM)], "echo", "--mode",
                                     "forking", *extra, wait=1)
                c = self.connect(srv.urls[0])
                c.send(b"x\n")
                c.recv_line()  # a request process serves it now
                pids = [srv.pid]
                frontier = [srv.pid]
                while frontier:
                    kids = list(children_of(frontier.pop()))
                    pids += kids
                    frontier += kids
                self.assertGreaterEqual(len(pids), 2 + (2 if extra else 0), "processes: %s" % pids)
                for pid in pids:
                    env = self.environ(pid)
                    self.assertNotIn(b"LISTEN_", env, "process %d (of %s)" % (pid, pids))
                    self.assertIn(b"PATH=", env)
                c.close()
                srv.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
