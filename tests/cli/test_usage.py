"""test_usage.py: bad usage exits 2 naming the problem; the forms of the command line; cannot listen exits 1 with the OS's reason."""
import os
import re
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sockserv_harness import BIN, PROGRAM_THREADS, SLOW, Case, run  # noqa: E402

L = "tcp://127.0.0.1:0"

# (arguments, words of which the message must contain at least one, case-insensitive)
USAGE_ERRORS = [
    ([], ["usage", "command"]),
    (["frobnicate"], ["frobnicate"]),
    (["frobnicate", "--listen", L], ["frobnicate"]),
    (["--listen", L], ["command", "usage", "--listen"]),
    (["echo", "--bogus"], ["--bogus"]),
    (["chat", "--bogus", "1"], ["--bogus"]),
    (["echo", "extra-argument"], ["extra-argument"]),
    (["echo", "--listen"], ["--listen"]),
    (["echo", "--mode"], ["--mode"]),
    (["echo", "--max-line"], ["--max-line"]),
    (["echo", "--drain"], ["--drain"]),
    (["echo", "--listen", "tcp://127.0.0.1"], ["tcp://127.0.0.1", "port"]),
    (["echo", "--listen", "tcp://127.0.0.1:"], ["tcp://127.0.0.1:", "port"]),
    (["echo", "--listen", "tcp://:80x"], ["tcp://:80x", "port"]),
    (["echo", "--listen", "tcp://127.0.0.1:65536"], ["65536", "port"]),
    (["echo", "--listen", "tcp://127.0.0.1:99999999999"], ["99999999999", "port"]),
    (["echo", "--listen", "tcp://127.0.0.1:-1"], ["tcp://127.0.0.1:-1", "port"]),
    (["echo", "--listen", "udp://127.0.0.1:65536"], ["65536", "port"]),
    (["echo", "--listen", "tcp://[::1:80"], ["tcp://[::1:80", "bracket", "ipv6", "address"]),
    (["echo", "--listen", "http://127.0.0.1:80"], ["http", "scheme"]),
    (["echo", "--listen", "127.0.0.1:9999"], ["127.0.0.1:9999", "scheme"]),
    (["echo", "--listen", "unix:"], ["unix:", "path"]),
    (["echo", "--listen", "unix-dgram:"], ["unix-dgram:", "path"]),
    (["echo", "--mode", "bogus"], ["bogus"]),
    (["echo", "--mode", ""], ["mode"]),
    (["echo", "--max-line", "0"], ["max-line"]),
    (["echo", "--max-line", "-1"], ["max-line"]),
    (["echo", "--max-line", "abc"], ["max-line", "abc"]),
    (["echo", "--max-line", "10x"], ["max-line", "10x"]),
    (["echo", "--drain", "abc"], ["drain", "abc"]),
    (["chat", "--drain", "abc"], ["drain", "abc"]),
    (["chat", "--mode", "bogus"], ["bogus"]),
    (["chat", "--listen", "udp://127.0.0.1:0"], ["udp", "datagram", "stream"]),
    (["chat", "--listen", "unix-dgram:/tmp/sockserv-never.sock"], ["unix-dgram", "datagram", "stream"]),
    (["chat", "--max-line", "0"], ["--max-line"]),
    (["echo", "--max-connections"], ["--max-connections"]),
    (["echo", "--max-connections", "0"], ["--max-connections"]),
    (["echo", "--max-connections", "1000001"], ["--max-connections"]),
    (["chat", "--max-connections", "-5"], ["--max-connections"]),
    (["echo", "--timeout", "-1"], ["--timeout"]),
    (["echo", "--timeout", "1e999"], ["--timeout"]),
    (["chat", "--timeout", "soon"], ["--timeout", "soon"]),
    (["echo", "--allow", ""], ["--allow", "empty"]),
    (["echo", "--allow", "1.2.3.4/33"], ["--allow", "prefix"]),
    (["echo", "--allow", "::1/129"], ["--allow", "prefix"]),
    (["echo", "--allow", "localhost"], ["--allow", "address"]),
    (["echo", "--allow", "10.0.0.0/8,"], ["--allow", "empty"]),
    (["echo", "--allow", "10.0.0.0/8", "--listen", "unix:/tmp/sockserv-never.sock"], ["--allow", "unix"]),
    (["echo", "--socket-mode", "0660"], ["--socket-mode", "tcp://127.0.0.1:9999"]),
    (["echo", "--socket-mode", "0660", "--listen", "unix:@abstract"], ["--socket-mode", "@abstract"]),
    (["echo", "--socket-mode", "0", "--listen", "unix:/tmp/sockserv-never.sock"], ["--socket-mode", "octal"]),
    (["echo", "--socket-mode", "0800", "--listen", "unix:/tmp/sockserv-never.sock"], ["--socket-mode", "octal"]),
    (["echo", "--socket-mode", "1777", "--listen", "unix:/tmp/sockserv-never.sock"], ["--socket-mode", "octal"]),
    (["echo", "--workers"], ["--workers"]),
    (["echo", "--workers", "0"], ["--workers"]),
    (["echo", "--workers", "-1"], ["--workers"]),
    (["echo", "--workers", "abc"], ["--workers"]),
    (["echo", "--workers", "1025"], ["--workers"]),
    (["echo", "--workers", ""], ["--workers"]),
    (["echo", "--workers", "4x"], ["--workers"]),
    (["echo", "--workers=0"], ["--workers"]),
    (["echo", "--mode", "event", "--workers", "0"], ["--workers"]),
    (["echo", "--mode", "pool", "--workers", "1025"], ["--workers"]),
    (["chat", "--workers", "0"], ["--workers"]),
    (["chat", "--mode", "event", "--workers", "-1"], ["--workers"]),
    (["chat", "--workers", "abc"], ["--workers"]),
    (["chat", "--workers", "1025"], ["--workers"]),
    (["--workers", "4", "echo"], ["--workers", "command"]),
    (["echo", "--tls-cert", "cert.pem", "--tls-key", "key.pem"], ["--tls-cert", "tls://"]),
    (["echo", "--listen", L, "--tls-key", "key.pem"], ["--tls-key", "tls://"]),
    (["chat", "--listen", "unix:/tmp/sockserv-never.sock", "--tls-client-ca", "ca.pem"], ["--tls-client-ca"]),
    (["echo", "--listen", "udp://127.0.0.1:0", "--tls-alpn", "h2"], ["--tls-alpn"]),
    (["echo", "--listen", "tls://127.0.0.1"], ["tls://127.0.0.1", "port"]),
    (["chat", "--listen", "tls://127.0.0.1:0"], ["tls://", "--tls-cert", "TLS"]),
]


class UsageErrors(Case):
    def test_usage_errors_exit_2(self):
        for args, words in USAGE_ERRORS:
            with self.subTest(args=args):
                code, out, err = run(args)
                self.assertEqual(code, 2, "sockserv %s: exit %s, expected 2\nstdout: %s\nstderr: %s"
                                 % (args, code, out, err))
                self.assertTrue(err.strip(), "sockserv %s: no message on stderr" % (args,))
                self.assertTrue(any(w.lower() in err.lower() for w in words),
                                "sockserv %s: stderr does not name the problem (expected one of %s):\n%s"
                                % (args, words, err))
                self.assertNotIn("listening on", out)

    def test_tls_url_says_what_it_needs(self):
        # With TLS built in, a certificate and a key (tests/cli/test_tls.py tests the rest);
        # without it, that TLS is missing and how to get it. Either way bad usage.
        code, out, err = run(["echo", "--listen", "tls://127.0.0.1:0", "--tls-cert", "c.pem"])
        self.assertEqual(code, 2, err)
        self.assertNotIn("listening on", out)
        if "without TLS" in err:
            self.assertIn("apt-get install libssl-dev", err)
        else:
            self.assertIn("needs --tls-key", err)
        self.assertEqual(err.splitlines()[1:], ["Try 'sockserv --help'."], err)

    def test_unix_path_too_long(self):
        # The contract does not say whether this is bad usage (2) or a failed bind (1): either,
        # with a message about the length.
        code, out, err = run(["echo", "--listen", "unix:/" + "x" * 200])
        self.assertIn(code, (1, 2), err)
        self.assertTrue("long" in err.lower() or "path" in err.lower(), err)

    def test_options_in_any_order(self):
        # Not an error: the same options, in another order, with --opt=value avoided.
        srv = self.server("echo", "--mode", "sync", "--drain", "1", "--max-line", "64", "--listen", L)
        c = self.connect(srv)
        c.send(b"x\n")
        self.assertEqual(c.recv_line(), b"x\n")
        c.close()
        srv.stop()


HINT = "Try 'sockserv --help'.\n"


class OptionForms(Case):
    """How the command line is read (getopt_long underneath): the exact message
    for each form it refuses, nothing of getopt's own, and what it takes."""

    REFUSED = [
        (["echo", "--list", L], "unknown option '--list'"),              # abbreviations are not taken
        (["echo", "--list=" + L], "unknown option '--list'"),
        (["echo", "--h"], "unknown option '--h'"),
        (["echo", "-hx"], "unknown option '-hx'"),                      # nor clusters of short options
        (["-hv"], "unknown option '-hv'"),
        (["echo", "-x"], "unknown option '-x'"),
        (["echo", "-"], "unexpected argument '-'"),
        (["echo", "--"], "unknown option '--'"),                        # no end-of-options marker
        (["--", "echo"], "unknown option '--'"),
        (["echo", "--", "--mode"], "unknown option '--'"),
        (["echo", "--=x"], "unknown option '--'"),
        (["echo", "--help=x"], "option '--help' takes no value"),
        (["-h=1"], "option '-h' takes no value"),
        (["echo", "--version=1"], "option '--version' takes no value"),
        (["echo", "--listen"], "option '--listen' needs a value"),
        (["--listen"], "option '--listen' needs a value"),
        (["--listen", L, "echo"], "option '--listen' must follow a command (echo or chat)"),
        (["--mode=sync", "echo"], "option '--mode' must follow a command (echo or chat)"),
        (["echo", "--mode", "sync", "chat"], "unexpected argument 'chat'"),  # nothing is permuted
        (["echo", "extra", "--help"], "unexpected argument 'extra'"),
        (["Echo"], "unknown command 'Echo'"),
        # A value is taken as it is, even when it looks like an option.
        (["echo", "--listen", "-x"], "invalid --listen URL '-x'"),
        (["echo", "--listen", "--"], "invalid --listen URL '--'"),
        (["echo", "--drain", "--listen", L], "invalid --drain '--listen'"),
        (["echo", "--mode", "-h"], "invalid --mode '-h'"),
        # The last of an option given twice wins.
        (["echo", "--mode", "sync", "--mode", "bogus"], "invalid --mode 'bogus'"),
        (["echo", "--listen", L, "--listen", "bad"], "invalid --listen URL 'bad'"),
    ]

    def test_refused_with_one_message(self):
        for args, message in self.REFUSED:
            for env in ({}, {"POSIXLY_CORRECT": "1"}):
                with self.subTest(args=args, env=env):
                    p = subprocess.run([BIN] + args, stdin=subprocess.DEVNULL, capture_output=True,
                                       timeout=10 * SLOW, env=dict(os.environ, **env))
                    err = p.stderr.decode(errors="replace")
                    self.assertEqual(p.returncode, 2, err)
                    self.assertEqual(p.stdout, b"")
                    # One line naming the problem, then the hint: no message of getopt's own.
                    self.assertRegex(err, r"\Asockserv: %s[^\n]*\n%s\Z" % (re.escape(message), re.escape(HINT)))

    def test_help_and_version_anywhere_before_an_error(self):
        # Taken in order, as they come: --help after the command, before a bad option.
        for args in (["-h"], ["--help"], ["echo", "--help"], ["chat", "-h", "--bogus"], ["--help", "echo"],
                     ["echo", "--mode", "sync", "--help", "--listen"]):
            with self.subTest(args=args):
                code, out, err = run(args)
                self.assertEqual((code, err), (0, ""))
                self.assertTrue(out.startswith("Usage: sockserv echo|chat"), out)
        for args in (["--version"], ["chat", "--version", "--bogus"]):
            with self.subTest(args=args):
                code, out, err = run(args)
                self.assertEqual((code, err), (0, ""))
                self.assertRegex(out, r"\Asockserv [0-9]+\.[0-9]+\.[0-9]+\n\Z")

    def test_last_value_wins(self):
        # (--listen and --allow accumulate: test_listeners.py, test_allow_accumulates.)
        srv = self.server("echo", "--mode", "forking", "--mode", "sync", "--listen", L)
        self.roundtrip(srv)
        srv.stop()

    def test_allow_accumulates(self):
        # With the last range alone (10.0.0.0/8), a client on 127.0.0.1 would be refused.
        srv = self.server("echo", "--listen", L, "--allow", "127.0.0.0/8", "--allow=10.0.0.0/8")
        self.roundtrip(srv)
        srv.stop()


CHAT_LIMIT = 256 << 10  # the largest --max-line chat takes
ECHO_LIMIT = 1 << 30    # and echo


class Limits(Case):
    """Every size and time the program takes works, or is refused at start (exit 2)
    with the reason: never accepted and then broken."""

    def assertUsage(self, args, *phrases):
        code, out, err = run(args)
        self.assertEqual(code, 2, "sockserv %s: exit %s, expected 2\nstderr: %s" % (args, code, err))
        for phrase in phrases:
            self.assertIn(phrase, err, "sockserv %s: the message does not say %r" % (args, phrase))
        self.assertNotIn("listening on", out)
        return err

    def test_max_line_over_the_limit(self):
        for cmd, limit in (("chat", CHAT_LIMIT), ("echo", ECHO_LIMIT)):
            for value in (limit + 1, 100 * 1000 * 1000 * (cmd == "chat") or 2 * limit,
                          2 ** 63, 2 ** 64 - 1, 2 ** 64, 10 ** 30):
                with self.subTest(cmd=cmd, value=value):
                    self.assertUsage([cmd, "--max-line", str(value)],
                                     "invalid --max-line '%d'" % value,
                                     "%s lines can be at most %d bytes" % (cmd, limit))

    def test_max_line_at_the_limit_starts(self):
        # The line itself goes through in the fault tests (test_limits.py).
        for cmd, limit in (("chat", CHAT_LIMIT), ("echo", ECHO_LIMIT)):
            with self.subTest(cmd=cmd):
                srv = self.server(cmd, "--listen", L, "--max-line", str(limit), "--drain", "1")
                c = self.connect(srv)
                c.send(b"x\r\n")
                self.assertTrue(c.recv_line().endswith(b"x\r\n" if cmd == "echo" else b" x\n"))
                c.close()
                srv.stop()

    def test_tiny_times_refused(self):
        for opt in ("--timeout", "--drain"):
            for value in ("0.0000000001", "0.0009", "0.00099999", ".0001"):
                with self.subTest(opt=opt, value=value):
                    self.assertUsage(["echo", opt, value], "invalid %s '%s'" % (opt, value),
                                     "must be 0 or at least 0.001")

    def test_times_in_other_forms_refused(self):
        # Digits with one optional '.', nothing else: no exponent, sign, hex, inf or blanks.
        for opt in ("--timeout", "--drain"):
            for value in ("1e-10", "1E3", "1e2", "+1", "-0", "0x10", "inf", "nan", " 1", "1 ", ".", "", "1..2"):
                with self.subTest(opt=opt, value=value):
                    self.assertUsage(["chat", opt, value], "invalid %s" % opt)

    def test_small_times_accepted(self):
        for opt in ("--timeout", "--drain"):
            for value in ("0", "0.000", "0.001", ".001", "0.0010", "1."):
                with self.subTest(opt=opt, value=value):
                    srv = self.server("echo", "--listen", L, opt, value)
                    srv.stop()


class Escaping(Case):
    """What the operator typed comes back in messages with its control bytes escaped
    (\\xNN): a message never drives the terminal or splits into lines."""

    def assertEscaped(self, args, escaped):
        p = subprocess.run([BIN] + args, stdin=subprocess.DEVNULL, capture_output=True, timeout=10 * SLOW)
        self.assertEqual(p.returncode, 2, p.stderr)
        err = p.stderr
        self.assertIn(escaped.encode(), err)
        self.assertFalse([b for b in err if (b < 0x20 and b != 10) or b >= 0x7F], "raw control bytes: %r" % err)
        self.assertEqual(err.count(b"\n"), 2, "the message is not one line and the hint: %r" % err)

    def test_option_values(self):
        self.assertEscaped(["echo", "--mode", "\x1b[2J\x1b]0;x\x07"], "'\\x1b[2J\\x1b]0;x\\x07'")
        self.assertEscaped(["echo", "--max-line", "1\n2"], "'1\\x0a2'")
        self.assertEscaped(["echo", "--timeout", "\r5"], "'\\x0d5'")
        self.assertEscaped(["echo", "--allow", "1.2.3.4\x7f"], "'1.2.3.4\\x7f'")
        self.assertEscaped(["echo", "--mode", "caf\u00e9\u009b"], "caf\\xc3\\xa9\\xc2\\x9b")
        self.assertEscaped(["echo", "--mode", "back\\slash"], "back\\x5cslash")

    def test_names_and_arguments(self):
        self.assertEscaped(["\x1b[31mred"], "unknown command '\\x1b[31mred'")
        self.assertEscaped(["echo", "--bo\ngus"], "'--bo\\x0agus'")
        self.assertEscaped(["echo", "extra\targ"], "'extra\\x09arg'")

    def test_control_characters_in_socket_paths(self):
        # The library refuses them in a Unix path (the ready line would split): bad usage.
        d = self.tmp
        for url in ("unix:%s/a\nlistening on tcp://1.2.3.4:5" % d, "unix:@name\x1b[2J", "unix:%s/x\x7f" % d,
                    "unix-dgram:%s/tab\there" % d, "unix:%s/cr\r" % d, "unix:@nul\x01"):
            with self.subTest(url=url):
                p = subprocess.run([BIN, "echo", "--listen", url], stdin=subprocess.DEVNULL, capture_output=True,
                                   timeout=10 * SLOW)
                self.assertEqual(p.returncode, 2, "exit %s: %r %r" % (p.returncode, p.stdout, p.stderr))
                self.assertNotIn(b"listening on", p.stdout)
                self.assertIn(b"control character", p.stderr)
                self.assertFalse([b for b in p.stderr if (b < 0x20 and b != 10) or b >= 0x7F],
                                 "raw control bytes: %r" % p.stderr)
                self.assertFalse(os.path.exists(url.split(":", 1)[1]))


class Workers(Case):
    def test_one_and_four_work(self):
        for mode in ("pool", "event"):
            for n in ("1", "4"):
                for cmd in ("echo", "chat"):
                    with self.subTest(mode=mode, workers=n, cmd=cmd):
                        srv = self.server(cmd, "--listen", L, "--mode", mode, "--workers", n, "--drain", "1")
                        c = self.connect(srv)
                        c.send(b"x\n")
                        line = c.recv_line()
                        self.assertEqual(line, b"x\n" if cmd == "echo" else ("%s x\n" % c.hostport()).encode())
                        # N workers (pool) or N loops (event), each a thread, plus the program's
                        # own (and chat's room broker): never a thread per client.
                        extra = PROGRAM_THREADS + (cmd == "chat")
                        self.assertThreads(srv, int(n) + extra, "%s workers for %s" % (n, cmd))
                        c.close()
                        srv.stop()

    def test_option_forms(self):
        # --workers=N, and --workers in any position after the command; ignored by the
        # modes that have no workers.
        for args in (["--workers=2", "--mode", "pool"], ["--mode", "event", "--workers=3"],
                     ["--workers", "1024", "--mode", "threading"], ["--workers", "2"]):
            with self.subTest(args=args):
                srv = self.server("echo", "--listen", L, *args)
                c = self.connect(srv)
                c.send(b"form\n")
                self.assertEqual(c.recv_line(), b"form\n")
                c.close()
                srv.stop()

    def test_one_pool_worker_serves_clients_waiting_for_input(self):
        # A client the worker waits on (a holds its connection, sending
        # nothing) parks: the one worker serves b meanwhile.
        srv = self.server("echo", "--listen", L, "--mode", "pool", "--workers", "1")
        a = self.connect(srv)
        a.send(b"a\n")
        self.assertEqual(a.recv_line(), b"a\n")
        b = self.connect(srv)
        b.send(b"b\n")
        self.assertEqual(b.recv_line(), b"b\n")
        a.send(b"a again\n")
        self.assertEqual(a.recv_line(), b"a again\n")
        a.close()
        b.close()
        srv.stop()

    def test_one_event_loop_serves_clients_at_once(self):
        srv = self.server("echo", "--listen", L, "--mode", "event", "--workers", "1")
        conns = [self.connect(srv) for _ in range(20)]
        for rnd in range(3):
            for i, c in enumerate(conns):
                c.send(b"client %d round %d\n" % (i, rnd))
            for i, c in enumerate(conns):
                self.assertEqual(c.recv_line(), b"client %d round %d\n" % (i, rnd))
        self.assertThreads(srv, PROGRAM_THREADS + 1, "one loop: the program's threads and the loop's")
        for c in conns:
            c.close()
        srv.stop()


class CannotListen(Case):
    def assertCannotListen(self, args, reason):
        code, out, err = run(args)
        self.assertEqual(code, 1, "sockserv %s: exit %s, expected 1\nstdout: %s\nstderr: %s"
                         % (args, code, out, err))
        self.assertIn(reason.lower(), err.lower(), "sockserv %s: the OS's reason is missing:\n%s" % (args, err))
        self.assertNotIn("listening on", out)

    def test_tcp_address_in_use(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            for cmd in ("echo", "chat"):
                with self.subTest(cmd=cmd):
                    self.assertCannotListen([cmd, "--listen", "tcp://127.0.0.1:%d" % port],
                                            "address already in use")

    def test_udp_address_in_use(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            self.assertCannotListen(["echo", "--listen", "udp://127.0.0.1:%d" % port], "address already in use")

    def test_live_unix_socket_not_stolen(self):
        path = os.path.join(self.tmp, "live.sock")
        first = self.server("echo", "--listen", "unix:" + path)
        self.assertCannotListen(["echo", "--listen", "unix:" + path], "address already in use")
        self.assertTrue(os.path.exists(path), "the second server removed the first one's socket file")
        c = self.connect(first)
        c.send(b"still mine\n")
        self.assertEqual(c.recv_line(), b"still mine\n")
        c.close()
        first.stop()

    def test_abstract_in_use(self):
        first = self.server("echo", "--listen", "unix:@" + os.path.basename(self.tmp))
        self.assertCannotListen(["echo", "--listen", first.url], "address already in use")
        first.stop()

    def test_unknown_host_gives_the_resolvers_reason(self):
        # Not "cannot assign requested address" nor errno's "no such device or
        # address": the host could not be resolved, and why (the library's
        # ss_last_error()).
        for cmd in ("echo", "chat"):
            with self.subTest(cmd=cmd):
                self.assertCannotListen([cmd, "--listen", "tcp://no-such-host.invalid:80"],
                                        "cannot resolve host 'no-such-host.invalid'")

    def test_missing_directory(self):
        missing = os.path.join(self.tmp, "no", "such", "dir", "s.sock")
        for url in ("unix:" + missing, "unix-dgram:" + missing):
            with self.subTest(url=url):
                self.assertCannotListen(["echo", "--listen", url], "no such file or directory")
        self.assertCannotListen(["chat", "--listen", "unix:" + missing], "no such file or directory")

    def test_permission_denied(self):
        if os.geteuid() == 0:
            self.skipTest("running as root: permissions are not enforced")
        ro = os.path.join(self.tmp, "ro")
        os.mkdir(ro, 0o555)
        self.assertCannotListen(["echo", "--listen", "unix:" + os.path.join(ro, "s.sock")], "permission denied")


if __name__ == "__main__":
    unittest.main(verbosity=2)
