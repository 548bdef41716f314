"""test_chat.py: `sockserv chat`: delivery to everyone, format, quit, order, a client that stops reading, modes, console."""
import os
import random
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sockserv_harness import (CONCURRENT, MODES, SLOW, Case, ChatMember, Terminal, in_thread, ipv6_available,  # noqa: E402
                              unique, wait_until)

TCP = "tcp://127.0.0.1:0"


class ChatCase(Case):
    def server(self, *args, **kw):
        # Members stay connected to the end: a short drain keeps each stop quick.
        if "--drain" not in args:
            args += ("--drain", "0.5")
        # A pool serves as many members at once as it has workers (default 2 x CPUs):
        # enough for every room here whatever the machine.
        if "pool" in args and "--workers" not in args:
            args += ("--workers", "8")
        return super().server(*args, **kw)

    def join(self, srv, **kw):
        """Connect, say a unique line and wait for it to come back: now we are in the room."""
        c = self.connect(srv, **kw)
        m = ChatMember.join(c)
        if srv.address.family != socket.AF_UNIX:  # Unix peers are unnamed: any prefix
            self.assertEqual(m.prefix.decode(), c.hostport(), "the prefix is not the client's address")
        return m

    def settle(self, members):
        ChatMember.settle(members)

    def room(self, srv, n):
        members = [self.join(srv) for _ in range(n)]
        self.settle(members)
        return members


class Delivery(ChatCase):
    def test_everyone_gets_every_line_sender_included(self):
        srv = self.server("chat", "--listen", TCP)
        members = self.room(srv, 3)
        for speaker in members:
            text = unique("hello world").encode()
            speaker.say(text)
            for m in members:
                self.assertEqual(m.line(), speaker.prefix + b" " + text + b"\n")
        srv.stop()

    def test_prefix_is_getsockname(self):
        srv = self.server("chat", "--listen", TCP)
        a = self.connect(srv)
        a.send(b"who am i\n")
        self.assertEqual(a.recv_line(), ("%s who am i\n" % a.hostport()).encode())
        srv.stop()

    def test_ipv6_prefix(self):
        if not ipv6_available():
            self.skipTest("no IPv6 loopback")
        srv = self.server("chat", "--listen", "tcp://[::1]:0")
        a = self.connect(srv)
        a.send(b"six\n")
        self.assertEqual(a.recv_line(), ("%s six\n" % a.hostport()).encode())  # "[::1]:PORT six"
        srv.stop()

    def test_text_kept_as_is(self):
        srv = self.server("chat", "--listen", TCP)
        a, b = self.room(srv, 2)
        for text in (b"", b"  spaces around  ", b"tab\there", b"quit now", b"quitquit"):
            a.say(text)
            for m in (a, b):
                self.assertEqual(m.line(), a.prefix + b" " + text + b"\n", text)
        srv.stop()

    def test_crlf_is_an_end_of_line(self):
        # A telnet client ends lines with \r\n: TEXT is the line without it.
        srv = self.server("chat", "--listen", TCP)
        a, b = self.room(srv, 2)
        a.conn.send(b"from telnet\r\n")
        for m in (a, b):
            self.assertEqual(m.line(), a.prefix + b" from telnet\n")
        srv.stop()

    def test_unix_transports(self):
        def case(p):
            if p["kind"] == "unix":
                url = "unix:" + os.path.join(self.tmp, "chat-%s.sock" % p["mode"])
            else:
                url = "unix:@" + unique("chat-" + p["mode"])
            srv = self.server("chat", "--listen", url, "--mode", p["mode"])
            members = self.room(srv, 3)
            self.assertEqual(len({m.prefix for m in members}), 3, "Unix clients not told apart")
            for speaker in members:
                speaker.say(b"over unix")
                for m in members:
                    self.assertEqual(m.line(), speaker.prefix + b" over unix\n")
            srv.stop()
        self.at_once([dict(kind=k, mode=m) for k in ("unix", "abstract") for m in CONCURRENT], case)

    def test_long_line(self):
        srv = self.server("chat", "--listen", TCP)
        a, b = self.room(srv, 2)
        text = b"L" * 60000
        a.say(text)
        for m in (a, b):
            self.assertEqual(m.line(), a.prefix + b" " + text + b"\n")
        srv.stop()


REPLACEMENT = "\ufffd".encode()  # U+FFFD, EF BF BD


def cleaned(text):
    """What the room makes of a member's text, computed apart from the server: each
    byte of what is not UTF-8 (Python's decoder marks each as a lone surrogate),
    each control but TAB, each bidi embedding, override or isolate, and each line
    or paragraph separator becomes U+FFFD; the rest is kept byte for byte."""
    out = []
    for ch in text.decode("utf-8", "surrogateescape"):
        c = ord(ch)
        if (0xDC80 <= c <= 0xDCFF or (c < 0x20 and c != 9) or 0x7F <= c <= 0x9F
                or 0x202A <= c <= 0x202E or 0x2066 <= c <= 0x2069 or c in (0x2028, 0x2029)):
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out).encode()


# What a member may try on the others' terminals, and text that must pass unchanged.
HOSTILE = [
    b"\x1b[2J\x1b[H cleared your screen",            # erase display, cursor home
    b"\x1b]0;owned\x07 set your title",               # OSC title, ended by BEL
    b"\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\",  # OSC 8 hyperlink
    b"ring\x07\x07 the bell",
    b"nul\x00byte and backspace\x08\x08 and DEL\x7f",
    b"\r127.0.0.1:1 forged a prefix with a bare CR",
    b"vertical\x0btab\x0cform feed\x1b",
    b"C1 CSI \xc2\x9b2J NEL \xc2\x85 and \xc2\x80 \xc2\x9f",
    b"bidi \xe2\x80\xaeRLO\xe2\x80\xac \xe2\x80\xaaLRE \xe2\x80\xabRLE \xe2\x80\xadLRO",
    b"isolates \xe2\x81\xa6LRI\xe2\x81\xa9 \xe2\x81\xa7RLI \xe2\x81\xa8FSI",
    b"separators \xe2\x80\xa8 line \xe2\x80\xa9 paragraph",
    b"overlong \xc0\xaf \xe0\x80\xaf \xf0\x80\x80\xaf and \xc1\xbf",
    b"surrogates \xed\xa0\x80 \xed\xbf\xbf, past U+10FFFF \xf4\x90\x80\x80 \xf5\x80\x80\x80",
    b"stray \x80 \xbf, never UTF-8 \xfe \xff \xf8\x88\x80\x80\x80",
    b"truncated \xe2\x82 and \xf0\x9f\x98 then text",
    b"truncated at the end \xe2\x82",
]
VALID = [
    "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, \u00c5ngstr\u00f6m, na\u00efve".encode(),
    "\u4e2d\u6587 \u65e5\u672c\u8a9e \ud55c\uad6d\uc5b4 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u05e2\u05d1\u05e8\u05d9\u05ea".encode(),
    "emoji \U0001F600 \U0001F468\u200D\U0001F469\u200D\U0001F467 \U0001F1EB\U0001F1F7".encode(),
    "edges: \u00a0 \u07ff \u0800 \ud7ff \ue000 \ufffd \uffff \U00010000 \U0010FFFF".encode(),
    b"tab\tstays",
]


class UntrustedText(ChatCase):
    """A member's line reaches the others as 'PEER TEXT': the prefix is the server's,
    and TEXT cannot drive a terminal or disguise where the line came from."""

    def assertSafe(self, line, prefix):
        self.assertTrue(line.startswith(prefix + b" "), "the line does not start with its sender: %r" % line)
        text = line[len(prefix) + 1:-1]
        self.assertFalse([b for b in text if (b < 0x20 and b != 9) or b == 0x7F],
                         "a control byte reached a member: %r" % line)
        decoded = text.decode("utf-8")  # UnicodeDecodeError: invalid UTF-8 reached a member
        self.assertFalse([c for c in decoded if 0x80 <= ord(c) <= 0x9F or 0x202A <= ord(c) <= 0x202E
                          or 0x2066 <= ord(c) <= 0x2069 or ord(c) in (0x2028, 0x2029)],
                         "a C1, bidi or separator character reached a member: %r" % line)

    def test_controls_and_bad_utf8_neutralised_every_mode(self):
        def case(p):
            srv = self.server("chat", "--listen", TCP, "--mode", p["mode"])
            members = [self.join(srv)] if p["mode"] == "sync" else self.room(srv, 2)
            speaker = members[0]
            for text in HOSTILE:
                speaker.say(text)
                for m in members:
                    line = m.line()
                    self.assertEqual(line, speaker.prefix + b" " + cleaned(text) + b"\n", text)
                    self.assertSafe(line, speaker.prefix)
            srv.stop()
        self.at_once([dict(mode=m) for m in MODES], case)

    def test_valid_utf8_byte_for_byte(self):
        srv = self.server("chat", "--listen", TCP)
        a, b = self.room(srv, 2)
        for text in VALID:
            self.assertEqual(cleaned(text), text)
            a.say(text)
            for m in (a, b):
                self.assertEqual(m.line(), a.prefix + b" " + text + b"\n", text)
        srv.stop()

    def test_every_byte_value(self):
        # Each byte alone (but the end of line), then all of them in one line.
        srv = self.server("chat", "--listen", TCP)
        a = self.join(srv)
        every = bytes(b for b in range(256) if b != 10)
        for byte in every:
            a.say(bytes([byte]))
            line = a.line()
            text = b"" if byte == 13 else cleaned(bytes([byte]))  # "\r\n" is an end of line
            self.assertEqual(line, a.prefix + b" " + text + b"\n", byte)
            self.assertSafe(line, a.prefix)
        a.say(every)
        self.assertEqual(a.line(), a.prefix + b" " + cleaned(every) + b"\n")
        srv.stop()

    def test_bare_cr_cannot_forge_a_prefix(self):
        srv = self.server("chat", "--listen", TCP)
        a, b = self.room(srv, 2)
        a.say(b"hello\r" + b.prefix + b" I never said this")
        line = b.line()
        self.assertEqual(line, a.prefix + b" hello" + REPLACEMENT + b.prefix + b" I never said this\n")
        self.assertNotIn(b"\r", line)
        srv.stop()

    def test_worst_growth_at_the_limit(self):
        # Every byte of a line at --max-line becomes 3: the room's buffers take it whole.
        for limit, byte in ((1000, b"\x01"), (4096, b"\xff")):
            with self.subTest(limit=limit, byte=byte):
                srv = self.server("chat", "--listen", TCP, "--max-line", str(limit))
                a, b = self.room(srv, 2)
                a.conn.send(byte * limit + b"\r\n")
                for m in (a, b):
                    self.assertEqual(m.line(), a.prefix + b" " + REPLACEMENT * limit + b"\n")
                srv.stop()


class Leaving(ChatCase):
    def test_quit_with_whitespace_ends_that_client(self):
        for quit in (b"quit", b"  quit  ", b"\tquit", b"quit \r"):
            with self.subTest(quit=quit):
                srv = self.server("chat", "--listen", TCP)
                a, b = self.room(srv, 2)
                a.say(quit)
                data, how = a.conn.recv_until_closed()
                self.assertNotIn(b"quit", data, "the quit line was broadcast")
                b.say(b"after quit")
                self.assertEqual(b.line(), b.prefix + b" after quit\n", "quit was broadcast or b was hurt")
                srv.stop()

    def test_eof_leaves(self):
        srv = self.server("chat", "--listen", TCP)
        a, b, c = self.room(srv, 3)
        a.conn.shutdown_write()
        a.conn.recv_until_closed()
        c.conn.reset()
        b.say(b"still here")
        self.assertEqual(b.line(), b.prefix + b" still here\n")
        srv.stop()

    def test_fds_flat_after_many_members(self):
        def case(p):
            srv = self.server("chat", "--listen", TCP, "--mode", p["mode"])
            host = self.join(srv)
            time.sleep(0.2)
            baseline = srv.fd_count()
            for i in range(60):
                m = self.join(srv)
                if i % 3 == 0:
                    m.say(b"quit")
                elif i % 3 == 1:
                    m.conn.reset()
                else:
                    m.conn.close()
                m.conn.close()
            host.say(b"done")
            _, line = host.skip_to(b"done")
            self.assertFdsSettle(srv, baseline)
            srv.stop()
        self.at_once([dict(mode=m) for m in CONCURRENT], case)


class Order(ChatCase):
    def test_same_order_everywhere(self):
        # Everyone talks at once: the room's queue may fill, and a handler then waits
        # for it through the library (never blocking its thread, or its event loop).
        def case(p):
            mode = p["mode"]
            srv = self.server("chat", "--listen", TCP, "--mode", *mode.split())
            members = self.room(srv, 3)
            per = 300
            total = per * len(members)

            def collect(m):
                got = []
                while len(got) < total:
                    got.append(m.line())
                return got

            readers = [in_thread(collect, m) for m in members]
            senders = [in_thread(m.conn.send, b"".join(b"m %d %d\n" % (i, j) for j in range(per)))
                       for i, m in enumerate(members)]
            for s in senders:
                s()
            seen = [r() for r in readers]
            for i, got in enumerate(seen):
                self.assertEqual(got, seen[0], "client %d saw another order than client 0" % i)
            for i, m in enumerate(members):
                mine = [ln for ln in seen[0] if ln.startswith(m.prefix + b" ")]
                self.assertEqual(mine, [m.prefix + b" m %d %d\n" % (i, j) for j in range(per)],
                                 "client %d's lines lost, cut or reordered" % i)
            srv.stop()
        self.at_once([dict(mode=m) for m in CONCURRENT + ("event --workers 1",)], case)


class SlowClient(ChatCase):
    CHUNK = 1024            # bytes per message
    BURST = 64              # messages sent before waiting for our own last one
    TOTAL = 8 << 20         # bytes sent through the room in all

    def test_client_that_never_reads(self):
        # Event with one loop too: the room's traffic then shares one thread with
        # every handler, so any call that blocked it would stall everyone.
        for args in [("--mode", m) for m in CONCURRENT] + [("--mode", "event", "--workers", "1")]:
            with self.subTest(args=" ".join(args)):
                self.run_slow_client(args)

    def run_slow_client(self, args):
        mode = " ".join(args[1:])
        srv = self.server("chat", "--listen", TCP, *args)
        slow = self.join(srv, rcvbuf=4096)  # joins, then never reads again
        a = self.join(srv)
        b = self.join(srv)
        self.settle([a, b])
        talkers = [a, b]
        per_talker = self.TOTAL // self.CHUNK // len(talkers)
        bursts = per_talker // self.BURST
        gaps = []

        def talk(i, m):
            """Send in bursts, each time reading until our own last line came back."""
            got = []
            last = time.monotonic()
            worst = 0.0
            pad = b"p" * (self.CHUNK - 40)

            def take(until):
                nonlocal last, worst
                while True:
                    line = m.line(timeout=20 * SLOW)
                    now = time.monotonic()
                    worst = max(worst, now - last)
                    last = now
                    got.append(line)
                    if line == until:
                        return
            for k in range(bursts):
                msgs = [b"t%d b%d n%d %s" % (i, k, j, pad) for j in range(self.BURST)]
                m.conn.send(b"".join(x + b"\n" for x in msgs))
                take(m.prefix + b" " + msgs[-1] + b"\n")
            m.say(b"t%d done" % i)
            take(m.prefix + b" t%d done\n" % i)
            gaps.append(worst)
            return got

        t0 = time.monotonic()
        joins = [in_thread(talk, i, m) for i, m in enumerate(talkers)]
        got = [j(timeout=120 * SLOW) for j in joins]
        took = time.monotonic() - t0
        # Each talker finally reads until the other one's "done" too.
        for i, m in enumerate(talkers):
            other = 1 - i
            if (talkers[other].prefix + b" t%d done\n" % other) not in got[i]:
                before, line = m.skip_to(b"t%d done" % other, timeout=20 * SLOW)
                got[i] += before + [line]
        # Healthy clients got everything, whole, in the same order.
        self.assertEqual(len(got[0]), 2 * (bursts * self.BURST + 1))
        self.assertEqual(got[0], got[1], "the two healthy clients saw different orders")
        self.assertLess(max(gaps), 5.0 * SLOW, "a healthy client waited %.1fs for a line" % max(gaps))
        # The one that never read was disconnected, not fed forever.
        data, how = slow.conn.recv_until_closed(timeout=20 * SLOW)
        self.assertLess(len(data), self.TOTAL, "the slow client got everything: never disconnected?")
        srv.stop()
        sys.stderr.write("[slow client, %s: %.1f MiB through the room in %.1fs; "
                         "worst gap %.2fs; slow client got %d KiB before its disconnect]\n"
                         % (mode, self.TOTAL / 1048576.0, took, max(gaps), len(data) // 1024))


class Modes(ChatCase):
    def test_concurrent_modes(self):
        def case(p):
            mode = p["mode"]
            srv = self.server("chat", "--listen", TCP, "--mode", mode)
            members = self.room(srv, 3)
            for speaker in members:
                speaker.say(b"in " + mode.encode())
                for m in members:
                    self.assertEqual(m.line(), speaker.prefix + b" in " + mode.encode() + b"\n")
            members[0].say(b"quit")
            members[0].conn.recv_until_closed()
            members[1].say(b"two left")
            for m in members[1:]:
                self.assertEqual(m.line(), members[1].prefix + b" two left\n")
            srv.stop()
        self.at_once([dict(mode=m) for m in CONCURRENT], case)

    def test_sync_one_client_at_a_time(self):
        srv = self.server("chat", "--listen", TCP, "--mode", "sync")
        a = self.join(srv)
        b = self.connect(srv)  # waits in the backlog while a is served
        b.send(b"queued\n")
        b.assert_open(0.5)
        a.say(b"alone")
        self.assertEqual(a.line(), a.prefix + b" alone\n")
        a.say(b"quit")
        a.conn.recv_until_closed()
        self.assertEqual(b.recv_line(), ("%s queued\n" % b.hostport()).encode())
        srv.stop()


class Console(ChatCase):
    def test_no_terminal_runs_until_signalled(self):
        for stdin in (subprocess.DEVNULL, "eof-pipe"):
            with self.subTest(stdin=str(stdin)):
                if stdin == "eof-pipe":
                    r, w = os.pipe()
                    os.close(w)
                    srv = self.server("chat", "--listen", TCP, stdin=r)
                    os.close(r)
                else:
                    srv = self.server("chat", "--listen", TCP, stdin=stdin)
                time.sleep(1.0)
                self.assertTrue(srv.running(), "stopped by stdin at EOF\n" + srv.describe())
                m = self.join(srv)
                m.say(b"alive")
                self.assertEqual(m.line(), m.prefix + b" alive\n")
                srv.stop()

    def test_admin_console_on_a_terminal(self):
        term = Terminal(self)
        srv = self.server("chat", "--listen", TCP, "--drain", "1", stdin=term.slave)
        term.close_slave()
        a = self.join(srv)
        b = self.join(srv)
        term.write(b"\n")  # an empty line is ignored
        time.sleep(0.3)
        self.assertTrue(srv.running())
        term.write(b"who\n")  # anything else lists the connected clients
        listed = wait_until(lambda: all(m.prefix in self.console_output(srv, term) for m in (a, b)),
                            5 * SLOW, step=0.1)
        self.assertTrue(listed, "the console did not list both clients:\n%r" % self.console_output(srv, term))
        term.write(b"quit\n")  # stops the server, with the drain
        code = srv.wait_exit(1 + 5 * SLOW)
        self.assertIsNotNone(code, "console quit did not stop the server\n" + srv.describe())
        srv.check_exit(code, 0)
        a.conn.recv_until_closed(timeout=5 * SLOW)

    def console_output(self, srv, term):
        """What the server printed, on stdout or echoed to the terminal."""
        return srv.stdout() + srv.stderr() + term.read()


class Junk(ChatCase):
    def test_junk_and_resets(self):
        def case(p):
            mode = p["mode"]
            srv = self.server("chat", "--listen", TCP, "--mode", mode)
            rng = random.Random(7)
            for i in range(30):
                c = self.connect(srv)
                try:
                    if i % 3 == 0:
                        c.send(rng.randbytes(rng.randrange(1, 20000)))
                        c.reset()
                    elif i % 3 == 1:
                        c.reset()
                    else:
                        c.send(rng.randbytes(3000))
                        c.close()
                except OSError:
                    pass
            self.assertTrue(srv.running(), "the server died on junk\n" + srv.describe())
            if mode == "sync":
                time.sleep(0.5)  # let the queued junk connections be served
            m = self.join(srv)
            m.say(b"still chatting")
            _, line = m.skip_to(b"still chatting")  # junk lines may still be arriving
            self.assertEqual(line, m.prefix + b" still chatting\n")
            srv.stop()
        self.at_once([dict(mode=m) for m in MODES], case)


if __name__ == "__main__":
    unittest.main(verbosity=2)
