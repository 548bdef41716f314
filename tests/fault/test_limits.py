"""test_limits.py: --max-connections, --max-line (echo and chat), datagram size, --allow, --socket-mode, and the loopback-only default: every input has a bound."""
import os
import random
import re
import selectors
import socket
import stat
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_harness as fh  # noqa: E402
from sockserv_harness import (BIN, CONCURRENT, IO_TIMEOUT, MODES, Case, children_of, connect,  # noqa: E402
                              ipv6_available, port_is_free, run, unique)

TCP = "tcp://127.0.0.1:0"


def served_lines(conns, timeout, want):
    """Indexes of the clients whose line ('client I\\n') comes back within timeout,
    waiting until `want` did; a client closed or answered wrongly is an error."""
    sel = selectors.DefaultSelector()
    for i, c in conns.items():
        sel.register(c.sock, selectors.EVENT_READ, i)
    served = set()
    deadline = time.monotonic() + timeout
    while len(served) < want and time.monotonic() < deadline:
        for key, _ in sel.select(max(0.0, min(0.2, deadline - time.monotonic()))):
            i = key.data
            line = conns[i].recv_line()
            if line != b"client %d\n" % i:
                raise AssertionError("client %d got %r" % (i, line))
            sel.unregister(conns[i].sock)
            served.add(i)
    sel.close()
    return served


class MaxConnections(Case):
    MAX = 3
    EXTRA = 4

    def test_stops_accepting_at_the_limit(self):
        def case(p):
            cmd, mode = p["cmd"], p["mode"]
            srv = self.server(cmd, "--listen", TCP, "--mode", mode, "--max-connections", str(self.MAX),
                              "--drain", "1")
            baseline = srv.fd_count()
            held = {}
            for i in range(self.MAX):
                c = self.connect(srv)
                c.send(b"client %d\n" % i)
                held[i] = c
                if cmd == "echo":
                    self.assertEqual(served_lines({i: c}, IO_TIMEOUT, 1), {i})
                else:
                    self.assertTrue(c.recv_line().endswith(b" client %d\n" % i))
            if cmd == "chat":  # every member reads everything said so far
                token = unique("settle").encode()
                held[0].send(token + b"\n")
                for c in held.values():
                    while not c.recv_line().endswith(b" " + token + b"\n"):
                        pass
            waiting = {}
            for i in range(self.MAX, self.MAX + self.EXTRA):
                c = self.connect(srv)  # completes in the kernel's backlog
                c.send(b"client %d\n" % i)
                waiting[i] = c
            # At the limit: nothing more accepted (no accept-then-close), near idle.
            share = fh.cpu_share(srv.pid, 1.0)
            self.assertLess(share, fh.IDLE_CPU, "%.0f%% of a core at the limit" % (100 * share))
            for c in waiting.values():
                c.assert_open(0.1)
            if mode == "forking":
                self.assertEqual(len(children_of(srv.pid)), self.MAX)
            elif cmd == "echo":
                self.assertEqual(srv.fd_count() - baseline, self.MAX)
            else:  # no waiting client's line reached the room
                for c in held.values():
                    c.assert_open(0.2)
            # One leaves: exactly one waiting client is taken in.
            for i in list(held)[:1]:
                held.pop(i).close()
            if cmd == "echo":
                got = served_lines(waiting, IO_TIMEOUT, 1)
                self.assertEqual(len(got), 1)
                self.assertEqual(served_lines({i: c for i, c in waiting.items() if i not in got}, 0.5, 1), set(),
                                 "two clients taken in for one that left")
            else:
                got = {min(waiting)}  # the backlog is first come, first served
                self.assertTrue(waiting[min(waiting)].recv_line().endswith(b" client %d\n" % min(waiting)))
            held.update({i: waiting.pop(i) for i in got})
            # All leave: the rest are served.
            for c in held.values():
                c.close()
            if cmd == "echo":
                self.assertEqual(served_lines(waiting, IO_TIMEOUT, len(waiting)), set(waiting))
            else:  # each joins: its own line comes back to it
                for i, c in waiting.items():
                    while not c.recv_line().endswith(b" client %d\n" % i):
                        pass
            for c in waiting.values():
                c.close()
            srv.stop()
            counters = fh.stopped_counters(srv)
            total = self.MAX + self.EXTRA
            self.assertEqual((counters["accepted"], counters["refused"], counters["accept_errors"]), (total, 0, 0))
        self.at_once([dict(cmd="echo", mode=m) for m in CONCURRENT] + [dict(cmd="chat", mode="threading")], case)


class ForkingChildren(Case):
    def test_max_connections_is_the_number_of_request_processes(self):
        # Forking serves each client in a process of its own: --max-connections 50
        # means 50 at once (the library's own default is 40 processes).
        srv = self.server("echo", "--listen", TCP, "--mode", "forking", "--max-connections", "50",
                          "--drain", "0.5")
        held = {}
        for i in range(45):
            c = self.connect(srv)
            c.send(b"client %d\n" % i)
            held[i] = c
        self.assertEqual(served_lines(held, IO_TIMEOUT, len(held)), set(held), "not every client was served")
        last = self.connect(srv)
        last.send(b"client 45\n")
        self.assertEqual(served_lines({45: last}, IO_TIMEOUT, 1), {45}, "the 46th client was not served")
        self.assertGreaterEqual(len(children_of(srv.pid)), 46)
        for c in held.values():
            c.send(b"still\n")
            self.assertEqual(c.recv_line(), b"still\n")
            c.close()
        last.close()
        srv.stop()

    def test_chat_members_past_the_library_default_join(self):
        # The same in chat: each member is a process; the 41st and later join
        # the room (each gets its own line back), and the first hears the last.
        srv = self.server("chat", "--listen", TCP, "--mode", "forking", "--max-connections", "50",
                          "--drain", "0.5")
        members = []
        for i in range(46):
            c = self.connect(srv)
            c.send(b"client %d\n" % i)
            while not c.recv_line().endswith(b" client %d\n" % i):
                pass
            members.append(c)
        while not members[0].recv_line().endswith(b" client 45\n"):
            pass
        for c in members:
            c.close()
        srv.stop()
        self.assertEqual(fh.stopped_counters(srv)["accepted"], 46)


class FileLimit(Case):
    """--max-connections within the open-file limit: the default fits it, more is refused."""

    LIMIT = 90  # the program's own few dozen, and a dozen chat members at two descriptors each

    def limited(self):
        """The program under `ulimit -n LIMIT`."""
        path = os.path.join(self.tmp, "limited.sh")
        with open(path, "w") as f:
            f.write('#!/bin/sh\nulimit -n %d || exit 99\nexec "%s" "$@"\n' % (self.LIMIT, BIN))
        os.chmod(path, 0o755)
        return path

    def test_more_than_the_limit_holds_is_refused(self):
        for cmd in ("chat", "echo"):
            with self.subTest(cmd=cmd):
                self.assertUsageError(run([cmd, "--listen", TCP, "--max-connections", "200"], exe=self.limited()),
                                      ["--max-connections '200'", "ulimit -n: %d" % self.LIMIT, "at most"])

    def test_clients_past_the_default_wait_in_the_backlog(self):
        # Every member past what the limit holds waits to be accepted, then
        # joins once others left: none is accepted only to be dropped.
        srv = self.server("chat", "--listen", TCP, "--mode", "threading", "--drain", "0.5", exe=self.limited())
        members = {}
        for i in range(20):
            members[i] = self.connect(srv)
            members[i].send(b"client %d\n" % i)
        joined = chat_joined(members, IO_TIMEOUT)
        self.assertTrue(0 < len(joined) < 20, "%d of 20 joined under ulimit -n %d" % (len(joined), self.LIMIT))
        for i in joined:
            leave(members.pop(i))
        self.assertEqual(len(chat_joined(members, 10 * IO_TIMEOUT, want=len(members))), len(members),
                         srv.describe())
        for c in members.values():
            leave(c)
        srv.stop()
        self.assertNotIn(b"Too many open files", srv.stderr(), srv.describe())
        self.assertEqual(fh.stopped_counters(srv)["errors"], 0, srv.describe())


def leave(member):
    """'quit', then read what is left until the server closes: a clean end."""
    member.send(b"quit\n")
    member.recv_until_closed()


def chat_joined(members, timeout, want=None):
    """Which members got their own line ('client I') back: all that can within timeout
    (or until `want` did). Read raw: a member's line may come in one piece with others'."""
    sel = selectors.DefaultSelector()
    for i, c in members.items():
        sel.register(c.sock, selectors.EVENT_READ, i)
    seen = {i: b"" for i in members}
    joined = set()
    deadline = time.monotonic() + timeout
    while (want is None or len(joined) < want) and time.monotonic() < deadline and len(joined) < len(members):
        for key, _ in sel.select(max(0.0, min(0.2, deadline - time.monotonic()))):
            i = key.data
            data = members[i].sock.recv(65536)
            if not data:
                raise AssertionError("member %d: the server closed its connection" % i)
            seen[i] += data
            if b" client %d\n" % i in seen[i]:
                sel.unregister(members[i].sock)
                joined.add(i)
        if want is None and joined and not sel.select(0.5):
            break  # the rest wait in the backlog
    sel.close()
    return joined


def send_ignoring_reset(c, data):
    try:
        c.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server hung up on us: that is the point


class LineEnds(Case):
    """--max-line bounds a line's text: its "\n", or "\r\n" (nc -C, telnet), is not counted."""
    MAX = 100

    def test_crlf_not_counted_every_mode(self):
        n = self.MAX

        def case(p):
            cmd, mode = p["cmd"], p["mode"]
            srv = self.server(cmd, "--listen", TCP, "--mode", mode, "--max-line", str(n), "--drain", "0.5")
            c = self.connect(srv)
            prefix = ("%s " % c.hostport()).encode()
            # Texts of max-line bytes, whatever ends them; a '\r' not before the '\n' is text.
            for line, text in ((b"a" * n + b"\r\n", b"a" * n), (b"b" * n + b"\n", b"b" * n),
                               (b"c" * (n - 1) + b"\r\r\n", b"c" * (n - 1) + b"\r")):
                c.send(line)
                want = line if cmd == "echo" else prefix + text.replace(b"\r", "\ufffd".encode()) + b"\n"
                self.assertEqual(c.recv_line(), want, line[-4:])
            c.close()
            # One byte more, however it ends: the client is disconnected, nothing goes through.
            for line in (b"d" * (n + 1) + b"\n", b"e" * (n + 1) + b"\r\n", b"f" * n + b"\r\r\n",
                         b"g" * (n + 1)):
                d = self.connect(srv)
                send_ignoring_reset(d, line + (b"\nafter\n" if line.startswith(b"g") else b"after\n"))
                data, how = d.recv_until_closed()
                self.assertEqual(data, b"", "%r: got %r" % (line[-4:], data[:50]))
            # A last line of max-line bytes that ends with the input goes through, one more does not.
            e = self.connect(srv)
            e.send(b"h" * n)
            e.shutdown_write()
            want = b"h" * n if cmd == "echo" else ("%s " % e.hostport()).encode() + b"h" * n + b"\n"
            self.assertEqual(e.recv_until_closed()[0], want)
            f = self.connect(srv)
            send_ignoring_reset(f, b"i" * (n + 1))
            try:
                f.shutdown_write()
            except OSError:
                pass
            self.assertEqual(f.recv_until_closed()[0], b"")
            srv.stop()
        self.at_once([dict(cmd=cmd, mode=m) for cmd in ("echo", "chat") for m in MODES], case)


class ChatLimit(Case):
    """The largest --max-line chat takes works end to end through the room."""
    LIMIT = 256 << 10

    def test_largest_line_reaches_the_others(self):
        def case(mode):
            srv = self.server("chat", "--listen", TCP, "--mode", mode, "--max-line", str(self.LIMIT),
                              "--drain", "0.5")
            a, b = self.connect(srv), self.connect(srv)
            for speaker, readers in ((a, [a]), (b, [b]), (a, [a, b])):  # both in, both read all
                token = unique("in").encode()
                speaker.send(token + b"\n")
                for r in readers:
                    while not r.recv_line().endswith(b" " + token + b"\n"):
                        pass
            prefix = ("%s " % a.hostport()).encode()
            rng = random.Random(9)
            text = bytes(rng.randrange(0x20, 0x7F) for _ in range(self.LIMIT))
            # At the limit (with "\r\n"), and at the limit with every byte grown to U+FFFD.
            for line, want in ((text + b"\r\n", text), (b"\xff" * self.LIMIT + b"\n", "\ufffd".encode() * self.LIMIT)):
                a.send(line)
                for c in (a, b):
                    self.assertEqual(c.recv_line(timeout=30), prefix + want + b"\n")
            # One byte more: a is disconnected, b gets nothing of it.
            send_ignoring_reset(a, text + b"x\n")
            a.recv_until_closed()
            b.send(b"still\n")
            self.assertEqual(b.recv_line(), ("%s still\n" % b.hostport()).encode())
            srv.stop()
        self.at_once(CONCURRENT, case)


class MaxLine(Case):
    def test_chat_max_line(self):
        def until(c, text):
            """Lines up to the one ending with ' TEXT': (the lines before, that line)."""
            before = []
            while True:
                line = c.recv_line()
                if line.endswith(b" " + text + b"\n"):
                    return before, line
                before.append(line)

        def case(mode):
            srv = self.server("chat", "--listen", TCP, "--mode", mode, "--max-line", "100", "--drain", "0.5")
            a, b = self.connect(srv), self.connect(srv)
            for c in (a, b):  # both in the room
                token = unique("in").encode()
                c.send(token + b"\n")
                until(c, token)
            a.send(b"A" * 100 + b"\n")  # at the limit: delivered
            for c in (a, b):
                self.assertEqual(until(c, b"A" * 100)[1], ("%s %s\n" % (a.hostport(), "A" * 100)).encode())
            a.send(b"B" * 101 + b"\n")  # over it: a is disconnected, nobody gets it
            data, how = a.recv_until_closed()
            self.assertNotIn(b"B" * 101, data, "the long line was delivered")
            b.send(b"still\n")
            before, line = until(b, b"still")
            self.assertEqual(line, ("%s still\n" % b.hostport()).encode())
            self.assertFalse([ln for ln in before if b"B" * 101 in ln], "the long line reached b")
            srv.stop()
        self.at_once(CONCURRENT, case)  # sync serves one member at a time: no room of two

    def test_endless_line_bounded(self):
        # 64 MiB without an end of line: disconnected after about the limit, and the
        # server's memory does not follow the input.
        def case(p):
            cmd, mode = p["cmd"], p["mode"]
            srv = self.server(cmd, "--listen", TCP, "--mode", mode, "--drain", "0.5")
            rss = fh.rss_kib(srv.pid)
            c = self.connect(srv)
            chunk = b"N" * 65536
            sent = 0
            try:
                while sent < 64 << 20:
                    c.sock.settimeout(IO_TIMEOUT)
                    sent += c.sock.send(chunk)
            except OSError:
                pass  # reset by the server: what we want
            self.assertLess(sent, 32 << 20, "the server took %d MiB of one line" % (sent >> 20))
            data, how = c.recv_until_closed()
            self.assertNotIn(b"NNNN", data)
            grown = fh.rss_kib(srv.pid) - rss
            if not fh.sanitized():
                self.assertLess(grown, 8192, "RSS grew by %d KiB for one endless line" % grown)
            srv.stop()
            sys.stderr.write("[%s %s: disconnected after %.1f MiB, RSS %+d KiB]\n"
                             % (cmd, mode, sent / 1048576.0, grown))
        self.at_once([dict(cmd=c, mode=m) for c in ("echo", "chat") for m in ("threading", "event")], case)


class Datagrams(Case):
    def test_oversized_datagrams_bounded(self):
        def case(mode):
            srv = self.server("echo", "--listen", "unix-dgram:" + os.path.join(self.tmp, "d-%s.sock" % mode),
                              "--mode", mode)
            c = self.connect(srv)
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            rss = fh.rss_kib(srv.pid)
            c.send(b"D" * 65536)  # the largest the echo takes comes back whole
            self.assertEqual(c.recv(size=1 << 20), b"D" * 65536)
            for i in range(300):
                c.send(b"%d " % i + b"O" * 200000)
            c.send(b"marker")
            self.assertEqual(c.recv(size=1 << 20), b"marker", "an oversized datagram came back")
            grown = fh.rss_kib(srv.pid) - rss
            if not fh.sanitized():
                self.assertLess(grown, 4096, "RSS grew by %d KiB" % grown)
            srv.stop()
            counters = fh.stopped_counters(srv)
            self.assertEqual((counters["accepted"], counters["completed"], counters["errors"]), (302, 2, 300))
            self.assertEqual(len(fh.failure_lines(srv, "larger than")), 300)
        self.at_once(MODES, case)


class Allow(Case):
    def refused(self, srv, n=5):
        for _ in range(n):
            c = self.connect(srv)
            try:
                c.send(b"let me in\n")
            except OSError:
                pass
            try:
                data, how = c.recv_until_closed()
            except ConnectionError:
                data = b""
            self.assertEqual(data, b"", "a refused client got bytes")
            c.close()

    def served(self, srv, url=None):
        c = connect(url or srv.address)
        with c:
            c.send(b"welcome\n")
            self.assertEqual(c.recv_line(), b"welcome\n")

    def test_refused_never_reach_the_handler(self):
        def case(mode):
            srv = self.server("echo", "--listen", TCP, "--mode", mode, "--allow", "10.0.0.0/8,192.168.0.0/16")
            self.refused(srv, 20)
            srv.stop()
            self.assertEqual(fh.stopped_counters(srv),
                             dict(accepted=20, refused=20, completed=0, errors=0, accept_errors=0, cancelled=0,
                                  dropped=0, tls_failed=0))
            self.assertEqual(fh.failure_lines(srv), [])
        self.at_once(MODES, case)

    def test_ranges_that_match(self):
        for allow in (["127.0.0.1"], ["127.0.0.0/8"], ["10.0.0.0/8,127.0.0.1/32"],
                      ["10.0.0.0/8", "127.0.0.0/24"], ["0.0.0.0/0"]):
            with self.subTest(allow=allow):
                args = [x for a in allow for x in ("--allow", a)]
                srv = self.server("echo", "--listen", TCP, *args)
                self.served(srv)
                srv.stop()
                self.assertEqual(fh.stopped_counters(srv)["refused"], 0)

    def test_ipv6_and_mapped(self):
        if not ipv6_available():
            self.skipTest("no IPv6 loopback")
        srv = self.server("echo", "--listen", "tcp://[::1]:0", "--allow", "::1/128")
        self.served(srv)
        srv.stop()
        srv = self.server("echo", "--listen", "tcp://[::1]:0", "--allow", "127.0.0.0/8,fe80::/10")
        self.refused(srv, 3)
        srv.stop()
        self.assertEqual(fh.stopped_counters(srv)["refused"], 3)
        # An IPv4 client of an IPv6 socket is seen as ::ffff:127.0.0.1 and matches 127.0.0.0/8.
        srv = self.server("echo", "--listen", "tcp://[::ffff:127.0.0.1]:0", "--allow", "127.0.0.0/8")
        self.served(srv, "tcp://127.0.0.1:%d" % srv.address.addr[1])
        srv.stop()
        srv = self.server("echo", "--listen", "tcp://[::ffff:127.0.0.1]:0", "--allow", "::1")
        c = connect("tcp://127.0.0.1:%d" % srv.address.addr[1])
        with c:
            c.send(b"x\n")
            self.assertEqual(c.recv_until_closed()[0], b"")
        srv.stop()
        self.assertEqual(fh.stopped_counters(srv)["refused"], 1)

    def test_udp_refused_get_no_reply(self):
        srv = self.server("echo", "--listen", "udp://127.0.0.1:0", "--allow", "10.0.0.0/8")
        c = self.connect(srv)
        for i in range(10):
            c.send(b"datagram %d" % i)
        self.assertRaises(AssertionError, c.recv, 1.0)
        srv.stop()
        counters = fh.stopped_counters(srv)
        self.assertEqual((counters["refused"], counters["completed"]), (10, 0))

    def test_bad_allow_is_usage_error(self):
        for bad in ("10.0.0.0/33", "300.1.1.1", "::1/129", ",", "", "10.0.0.0/8,", "localhost", "1.2.3.4/-1"):
            with self.subTest(allow=bad):
                code, out, err = run(["echo", "--listen", TCP, "--allow", bad])
                self.assertEqual(code, 2, err)
                self.assertEqual(out, "")
        code, out, err = run(["echo", "--listen", "unix:" + os.path.join(self.tmp, "a.sock"), "--allow", "127.0.0.1"])
        self.assertEqual(code, 2, err)


class SocketMode(Case):
    def watch(self, path, stop):
        """Record every mode the path has until stop is set (from before it exists)."""
        seen = set()

        def body():
            while not stop.is_set():
                try:
                    seen.add(os.stat(path).st_mode)
                except FileNotFoundError:
                    pass
        t = threading.Thread(target=body, daemon=True)
        t.start()
        return seen, t

    def test_created_with_exactly_that_mode(self):
        # With a permissive umask a bind()-then-chmod() would leave the file wider for a
        # moment: a watcher polls the path from before the start and must never see it
        # wider than asked (narrower first, as under umask 077, is allowed).
        for scheme in ("unix", "unix-dgram"):
            for mode in (0o600, 0o660, 0o640, 0o700):
                for umask in (0o000, 0o077):
                    with self.subTest(scheme=scheme, mode=oct(mode), umask=oct(umask)):
                        path = os.path.join(self.tmp, unique("m") + ".sock")
                        stop = threading.Event()
                        seen, t = self.watch(path, stop)
                        srv = fh.launch(self, ["echo", "--listen", "%s:%s" % (scheme, path),
                                               "--socket-mode", "%04o" % mode], umask=umask)
                        st = os.stat(path)
                        stop.set()
                        t.join(5)
                        self.assertTrue(stat.S_ISSOCK(st.st_mode))
                        self.assertEqual(stat.S_IMODE(st.st_mode), mode)
                        wider = {oct(stat.S_IMODE(m)) for m in seen if stat.S_IMODE(m) & ~mode}
                        self.assertEqual(wider, set(), "the socket file was seen wider than %o" % mode)
                        self.roundtrip(srv, b"ok")
                        srv.stop()

    def test_bad_socket_mode_is_usage_error(self):
        path = os.path.join(self.tmp, "b.sock")
        for url, value in (("unix:" + path, "0999"), ("unix:" + path, "01777"), ("unix:" + path, "abc"),
                           ("unix:" + path, "0"), ("unix:" + path, ""), (TCP, "0600"),
                           ("udp://127.0.0.1:0", "0600"), ("unix:@" + unique("abs"), "0600")):
            with self.subTest(url=url, mode=value):
                code, out, err = run(["echo", "--listen", url, "--socket-mode", value])
                self.assertEqual(code, 2, err)
                self.assertFalse(os.path.exists(path), "a socket file was created on a usage error")


def listening_addresses(pid):
    """The local addresses (host, port) of the TCP sockets the process listens on."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            m = re.fullmatch(r"socket:\[(\d+)\]", os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            continue
        if m:
            inodes.add(m.group(1))
    found = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        with open("/proc/%d/net/%s" % (pid, table)) as f:
            next(f)
            for row in f:
                cols = row.split()
                local, state, inode = cols[1], cols[3], cols[9]
                if state != "0A" or inode not in inodes:  # 0A: LISTEN
                    continue
                hexaddr, hexport = local.split(":")
                raw = bytes.fromhex(hexaddr)
                # /proc prints the address as 32-bit words in host order.
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.append((socket.inet_ntop(family, raw), int(hexport, 16)))
    return found


class DefaultListen(Case):
    def test_default_is_loopback_only(self):
        for cmd in ("echo", "chat"):
            with self.subTest(cmd=cmd):
                if not port_is_free(9999):
                    # Something else has the port: the error still names the address tried.
                    code, out, err = run([cmd])
                    self.assertEqual(code, 1, err)
                    self.assertIn("cannot listen on tcp://127.0.0.1:9999", err)
                    continue
                srv = self.server(cmd)
                self.assertEqual(srv.url, "tcp://127.0.0.1:9999")
                found = listening_addresses(srv.pid)
                self.assertEqual(found, [("127.0.0.1", 9999)], "listening beyond loopback: %s" % found)
                srv.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
