"""test_logs.py: the program's messages: --log-format json (one object a line, every field parsed, client-chosen text escaped), syslog priorities when stderr is the journal (JOURNAL_STREAM), --verbose's connection lines with exact bytes and durations in every mode, --quiet (errors only), the SIGUSR1 counters with bytes (summed over --processes workers), the chat console's `stats`; the options' mistakes."""
import json
import os
import re
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sockserv_harness import SLOW, Case, Terminal, program_modes, run, wait_until  # noqa: E402

TCP = "tcp://127.0.0.1:0"
GRACE = 10.0 * SLOW  # a bound on what should take a moment: a hang fails, slowness does not
LEVELS = {"error", "warning", "notice", "info", "debug"}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def stderr_lines(srv):
    """The lines of stderr as journald keeps them: a leading <N> (Journal's servers) taken off."""
    lines = srv.stderr().decode("ascii").splitlines()
    return [re.sub(r"^<[0-7]>", "", line) for line in lines] if getattr(srv, "journal", False) else lines


def json_lines(srv):
    """Every line of stderr parsed as a JSON object (AssertionError naming the first that is not)."""
    objs = []
    for line in stderr_lines(srv):
        try:
            obj = json.loads(line)
        except ValueError:
            raise AssertionError("not a JSON line: %r\n%s" % (line, srv.describe()))
        if not isinstance(obj, dict):
            raise AssertionError("not an object: %r" % line)
        objs.append(obj)
    return objs


def check_common(test, obj):
    """The members every JSON line has."""
    test.assertRegex(obj["time"], TIME)
    test.assertIn(obj["level"], LEVELS)
    test.assertRegex(obj["event"], r"^[a-z_]+$")
    test.assertIsInstance(obj["pid"], int)


def events(objs, name):
    return [o for o in objs if o["event"] == name]


def echo_once(srv, payload):
    """One connection: send payload (lines), read it back, close. Returns the client's address."""
    c = srv.connect()
    c.send(payload)
    got = b""
    while len(got) < len(payload):
        got += c.recv_line()
    assert got == payload, (got, payload)
    c.shutdown_write()
    c.recv_until_closed()
    addr = "%s:%d" % c.sock.getsockname()[:2]
    c.close()
    return addr


def ask_stats(srv, until=lambda r: True):
    """SIGUSR1 until the `stats` line satisfies until(r); that line."""
    def ask():
        before = len(events(json_lines(srv), "stats")) if srv.args_has_json else len(stats_text(srv))
        os.kill(srv.pid, signal.SIGUSR1)
        if not wait_until(lambda: len(events(json_lines(srv), "stats") if srv.args_has_json
                                      else stats_text(srv)) > before, GRACE):
            raise AssertionError("no counters after SIGUSR1\n" + srv.describe())
        r = (events(json_lines(srv), "stats") if srv.args_has_json else stats_text(srv))[-1]
        return r if until(r) else None
    r = wait_until(ask, GRACE, step=0.1)
    if not r:
        raise AssertionError("SIGUSR1: counters never as expected\n" + srv.describe())
    return r


def stats_text(srv):
    """The SIGUSR1 lines of a text-format server (bare JSON objects), parsed."""
    return [json.loads(line) for line in stderr_lines(srv) if line.startswith("{")]


class LogCase(Case):
    def serve(self, *args, **kw):
        srv = self.server(*args, **kw)
        srv.args_has_json = "json" in args
        return srv


class JsonFormat(LogCase):
    def test_verbose_json_in_every_mode(self):
        """Two connections: conn_open and conn_close for each with the client, exact bytes and a
        duration; the SIGUSR1 line and the stop line as objects with the counters."""
        for mode in program_modes():
            with self.subTest(mode=mode):
                srv = self.serve("echo", "--listen", TCP, "--mode", mode, "--log-format", "json",
                                 "--verbose")
                clients = [echo_once(srv, b"hello\n"), echo_once(srv, b"one\ntwo three\n")]
                closes = wait_until(lambda: len(events(json_lines(srv), "conn_close")) == 2 and
                                    events(json_lines(srv), "conn_close"), GRACE)
                self.assertTrue(closes, srv.describe())
                opens = events(json_lines(srv), "conn_open")
                self.assertEqual(sorted(o["client"] for o in opens), sorted(clients))
                by_client = {o["client"]: o for o in closes}
                self.assertEqual(sorted(by_client), sorted(clients))
                for client, size in zip(clients, (6, 14)):
                    o = by_client[client]
                    self.assertEqual(o["level"], "info")
                    self.assertEqual(o["listener"], srv.url)
                    self.assertEqual((o["bytes_in"], o["bytes_out"]), (size, size), o)
                    self.assertGreaterEqual(o["duration_ms"], 0)
                    self.assertLess(o["duration_ms"], 60000)
                    self.assertIn(client, o["msg"])
                st = ask_stats(srv, lambda r: r["completed"] == 2)
                self.assertEqual((st["accepted"], st["bytes_in"], st["bytes_out"]), (2, 20, 20), st)
                self.assertEqual(st["level"], "notice")
                self.assertLessEqual(st["duration_p50_us"], st["duration_p99_us"])
                srv.stop()
                objs = json_lines(srv)
                for o in objs:
                    check_common(self, o)
                stopped = events(objs, "stopped")
                self.assertEqual(len(stopped), 1, srv.describe())
                self.assertEqual((stopped[0]["accepted"], stopped[0]["completed"], stopped[0]["bytes_in"]),
                                 (2, 2, 20))
                self.assertTrue(stopped[0]["msg"].startswith("stopped: accepted 2,"))

    def test_failure_as_json(self):
        """A line over --max-line: one error object, event handler_failed, with the client."""
        srv = self.serve("echo", "--listen", TCP, "--max-line", "4", "--log-format", "json")
        c = srv.connect()
        c.send(b"much too long\n")
        c.recv_until_closed()
        addr = "%s:%d" % c.sock.getsockname()[:2]
        failed = wait_until(lambda: events(json_lines(srv), "handler_failed"), GRACE)
        self.assertTrue(failed, srv.describe())
        self.assertEqual(failed[0]["level"], "error")
        self.assertEqual(failed[0]["client"], addr)
        self.assertIn("failed", failed[0]["msg"])
        srv.stop()
        json_lines(srv)

    def test_client_chosen_names_stay_inside_their_string(self):
        """A Unix client whose name holds quotes, backslashes, a newline and an escape: every line
        still one object, the name escaped (no raw control byte on stderr), the other members
        intact."""
        path = os.path.join(self.tmp, "s")
        srv = self.serve("echo", "--listen", "unix:" + path, "--log-format", "json", "--verbose",
                         "--max-line", "4")
        evil = b'\0x"},"level":"error\\\n\x1b[31m\xff'
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind(evil)
        s.connect(path)
        s.sendall(b"overlong line\n")
        s.settimeout(GRACE)
        while s.recv(4096):
            pass
        ok = wait_until(lambda: events(json_lines(srv), "conn_close") and
                        events(json_lines(srv), "handler_failed"), GRACE)
        self.assertTrue(ok, srv.describe())
        raw = srv.stderr()
        self.assertNotIn(b"\x1b", raw)
        self.assertNotIn(b"\xff", raw)
        for o in json_lines(srv):
            check_common(self, o)
            if "client" in o:  # the name's bytes, escaped, inside the one string
                self.assertIn("\\x1b", o["client"])
                self.assertIn('"},"level":"error\\x5c\\x0a', o["client"])
                self.assertNotEqual(o["level"], "error\\")
        self.assertEqual({o["level"] for o in events(json_lines(srv), "handler_failed")}, {"error"})
        srv.stop()

    def test_program_messages_as_json(self):
        """The program's own words too: SIGHUP without tls:// (a warning), with its event."""
        srv = self.serve("echo", "--listen", TCP, "--log-format", "json")
        os.kill(srv.pid, signal.SIGHUP)
        said = wait_until(lambda: events(json_lines(srv), "reload"), GRACE)
        self.assertTrue(said, srv.describe())
        self.assertEqual(said[0]["level"], "warning")
        self.assertIn("nothing to reload", said[0]["msg"])
        srv.stop()


class Levels(LogCase):
    def test_default_prints_no_connection_lines(self):
        srv = self.serve("echo", "--listen", TCP)
        echo_once(srv, b"hi\n")
        os.kill(srv.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: b"nothing to reload" in srv.stderr(), GRACE), srv.describe())
        srv.stop()
        err = srv.stderr().decode()
        self.assertNotIn("info:", err)
        self.assertIn("sockserv: stopped: accepted 1,", err)

    def test_verbose_text_lines(self):
        srv = self.serve("echo", "--listen", TCP, "-v")
        addr = echo_once(srv, b"hello\n")
        line = re.compile(r"^sockserv: info: request from %s done in [0-9.]+ ms, 6 bytes in, 6 out$"
                          % re.escape(addr), re.M)
        self.assertTrue(wait_until(lambda: line.search(srv.stderr().decode()), GRACE), srv.describe())
        self.assertRegex(srv.stderr().decode(), r"(?m)^sockserv: info: .*%s" % re.escape(addr))
        srv.stop()

    def test_quiet_prints_errors_only(self):
        """--quiet: no warning (SIGHUP's), no stop line, no connection line; an error still."""
        srv = self.serve("echo", "--listen", TCP, "--quiet", "--max-line", "4")
        echo_once(srv, b"ok\n")
        os.kill(srv.pid, signal.SIGHUP)
        c = srv.connect()
        c.send(b"much too long\n")
        c.recv_until_closed()
        c.close()
        self.assertTrue(wait_until(lambda: b"failed" in srv.stderr(), GRACE), srv.describe())
        st = ask_stats(srv, lambda r: r["completed"] + r["errors"] >= 2)  # SIGUSR1 prints anyway
        self.assertEqual(st["accepted"], 2)
        srv.stop()
        lines = srv.stderr().decode().splitlines()
        said = [x for x in lines if not x.startswith("{")]
        self.assertEqual(len(said), 1, lines)
        self.assertIn("failed", said[0])

    def test_option_mistakes(self):
        self.assertUsageError(run(["echo", "--quiet", "--verbose"]), starts="sockserv: --quiet and --verbose")
        self.assertUsageError(run(["echo", "-v", "-q"]), starts="sockserv: --quiet and --verbose")
        self.assertUsageError(run(["echo", "--log-format", "xml"]), words=["--log-format", "xml", "text", "json"])
        self.assertUsageError(run(["echo", "--log-format"]), words=["--log-format", "needs a value"])
        self.assertUsageError(run(["echo", "--quiet=1"]), words=["takes no value"])
        # given twice the same way: taken (the last of an option wins); the next mistake is named
        self.assertUsageError(run(["echo", "--quiet", "--quiet", "--log-format", "json", "--log-format",
                                   "text", "--mode", "nosuch"]), words=["--mode", "nosuch"])


class Journal(LogCase):
    """Under systemd with its stderr in the journal, JOURNAL_STREAM names stderr's device and
    inode: each line then starts with its syslog priority, which journald takes as the entry's
    (`journalctl -p warning`) and strips. Here the 'journal' is a file the variable names."""

    PRIORITY = {"error": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}

    def journal_server(self, *args, stream=None):
        """The program with stderr to a file and JOURNAL_STREAM naming that file (or `stream`)."""
        path = os.path.join(self.tmp, "journal")
        open(path, "ab").close()
        st = os.stat(path)
        env = dict(os.environ, JOURNAL_STREAM=stream if stream is not None else "%d:%d" % (st.st_dev, st.st_ino))
        srv = self.serve(*args, env=env, err_path=path)
        srv.journal = stream is None
        return srv

    def exercise(self, srv):
        """An echo, a line too long (an error), SIGUSR1 (a notice), a stop."""
        echo_once(srv, b"ok\n")
        c = srv.connect()
        c.send(b"much too long\n")
        c.recv_until_closed()
        c.close()
        self.assertTrue(wait_until(lambda: b"failed" in srv.stderr(), GRACE), srv.describe())
        ask_stats(srv, lambda r: r["completed"] + r["errors"] >= 2)
        srv.stop()
        return srv.stderr().decode().splitlines()

    def test_text_lines_carry_their_priority(self):
        srv = self.journal_server("echo", "--listen", TCP, "--verbose", "--max-line", "4")
        lines = self.exercise(srv)
        for line in lines:
            self.assertRegex(line, r"^<[3-7]>", lines)
        text = "\n".join(lines)
        self.assertRegex(text, r"(?m)^<6>sockserv: info: new request from ")
        self.assertRegex(text, r"(?m)^<6>sockserv: info: request from .* done in ")
        self.assertRegex(text, r"(?m)^<3>sockserv: request from .* failed: ")
        self.assertRegex(text, r'(?m)^<5>\{"accepted":2,')
        self.assertRegex(text, r"(?m)^<5>sockserv: stopped: accepted 2,")

    def test_json_lines_carry_their_priority(self):
        srv = self.journal_server("echo", "--listen", TCP, "--verbose", "--max-line", "4", "--log-format", "json")
        lines = self.exercise(srv)
        levels = set()
        for line in lines:
            m = re.match(r"^<([3-7])>(\{.*\})$", line)
            self.assertTrue(m, line)
            obj = json.loads(m.group(2))
            self.assertEqual(int(m.group(1)), self.PRIORITY[obj["level"]], line)
            levels.add(obj["level"])
        self.assertEqual(levels, {"error", "notice", "info"})

    def test_no_priority_unless_stderr_is_the_journal(self):
        other = os.stat(self.tmp)
        for stream in ("%d:%d" % (other.st_dev, other.st_ino), "", "12", "1:", ":1", "1:2x", "x:1", "-1:-1",
                       "99999999999999999999999:1"):
            with self.subTest(stream=stream):
                srv = self.journal_server("echo", "--listen", TCP, "--verbose", "--max-line", "4", stream=stream)
                for line in self.exercise(srv):
                    self.assertFalse(line.startswith("<"), line)
                os.unlink(srv.err_path)


class Processes(LogCase):
    def test_sigusr1_sums_bytes_over_workers(self):
        """--processes 2: SIGUSR1's line sums the workers' bytes (connections until both served)."""
        srv = self.serve("echo", "--listen", TCP, "--processes", "2", "--mode", "event",
                         "--verbose", "--log-format", "json")
        pids = set()
        n = 0
        deadline = time.monotonic() + GRACE
        while len(pids) < 2 and time.monotonic() < deadline:
            echo_once(srv, b"12345\n")
            n += 1
            pids = {o["pid"] for o in events(json_lines(srv), "conn_close")}
        self.assertEqual(len(pids), 2, "one worker served every connection\n" + srv.describe())
        st = ask_stats(srv, lambda r: r["completed"] == n)
        self.assertEqual((st["accepted"], st["bytes_in"], st["bytes_out"]), (n, 6 * n, 6 * n), st)
        srv.stop()
        stopped = events(json_lines(srv), "stopped")
        self.assertEqual(len(stopped), 1)
        self.assertEqual(stopped[0]["bytes_in"], 6 * n)


class Console(LogCase):
    def test_console_stats(self):
        term = Terminal(self)
        srv = self.serve("chat", "--listen", TCP, stdin=term.slave)
        term.close_slave()
        c = srv.connect()
        c.send(b"hello room\n")
        heard = c.recv_line()  # written by the room's broker, counted all the same
        c.close()

        def table():
            text = (srv.stdout() + term.read()).decode(errors="replace")
            done = re.findall(r"(?m)^completed\s+(\d+)\r?$", text)  # the last table's
            return done and int(done[-1]) == 1 and text[text.rindex("\naccepted "):]
        text = wait_until(lambda: (term.write(b"stats\n"), time.sleep(0.1), table())[2], GRACE, step=0.2)
        self.assertTrue(text, "no stats table on the console:\n%r" % (srv.stdout() + term.read()))
        self.assertRegex(text, r"(?m)^accepted\s+1\r?$")
        self.assertRegex(text, r"(?m)^active\s+0\r?$")
        self.assertRegex(text, r"(?m)^bytes in\s+11\r?$")
        self.assertRegex(text, r"(?m)^bytes out\s+%d\r?$" % len(heard))
        self.assertRegex(text, r"(?m)^durations\s+p50 <= \d+ us")
        srv.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
