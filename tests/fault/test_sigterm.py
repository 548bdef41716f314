"""test_sigterm.py: SIGTERM under load in every mode: requests in flight finish whole within the drain, new ones are cleanly refused, exit 0, no process or socket file left."""
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_harness as fh  # noqa: E402
from sockserv_harness import IO_TIMEOUT, MODES, SLOW, STOP_TIMEOUT, Case, connect, in_thread  # noqa: E402

DRAIN = 5
GRACE = 5.0 * SLOW


def talk(conn, stop, tag, chat):
    """Send numbered lines until `stop`, then the end (chat: 'quit'; echo: a last
    line without '\\n' and a half-close). Returns the lines sent."""
    sent = []
    k = 0
    while not stop.is_set():
        batch = [b"%s line %d %s" % (tag, k + j, b"p" * (k % 200)) for j in range(10)]
        conn.send(b"".join(x + b"\n" for x in batch))
        sent += batch
        k += 10
        time.sleep(0.002)
    if chat:
        conn.send(b"quit\n")
    else:
        sent.append(b"%s the end" % tag)
        conn.send(sent[-1])
        conn.shutdown_write()
    return sent


def drain_all(conn):
    """Everything the server sends until it closes; must end with a clean EOF."""
    data, how = conn.recv_until_closed(timeout=DRAIN + GRACE)
    if how != "eof":
        raise AssertionError("connection reset instead of closed after %d bytes" % len(data))
    return data


def churn(url, stop, results):
    """Short connections one after another until `stop`: each is served whole, or
    refused or closed with no byte of a reply (never a partial one)."""
    i = 0
    while not stop.is_set():
        i += 1
        line = b"short %d\n" % i
        try:
            c = connect(url, timeout=IO_TIMEOUT)
        except OSError:
            results["refused"] += 1
            time.sleep(0.01)
            continue
        try:
            c.send(line)
            c.shutdown_write()
            data, how = c.recv_until_closed()
        except OSError:
            data, how = b"", "reset"
        finally:
            c.close()
        if data == line:
            results["served"] += 1
        elif data == b"":
            results["refused"] += 1
        else:
            results["partial"].append(data)


class SigtermUnderLoad(Case):
    def test_every_mode(self):
        def case(p):
            mode, cmd, kind = p["mode"], p["cmd"], p["kind"]
            if kind == "unix":
                url = "unix:" + os.path.join(self.tmp, "%s-%s.sock" % (cmd, mode))
            else:
                url = "tcp://127.0.0.1:0"
            srv = self.server(cmd, "--listen", url, "--mode", mode, "--drain", str(DRAIN))
            n = 1 if mode == "sync" else 5
            chat = cmd == "chat"
            conns = [self.connect(srv) for _ in range(n)]
            # Each client served once before the signal: a connection the server has not
            # accepted yet (a fork under load can take a while) is not in flight, and the
            # stop resets it with the rest of the listen backlog, as closing a listener does.
            for i, c in enumerate(conns):
                hello = b"c%d hello\n" % i
                c.send(hello)
                while not c.recv_line().endswith(hello):  # chat: the others' hellos first
                    pass
            stop = threading.Event()
            senders = [in_thread(talk, c, stop, b"c%d" % i, chat) for i, c in enumerate(conns)]
            readers = [in_thread(drain_all, c) for c in conns]
            churned = {"served": 0, "refused": 0, "partial": []}
            churner = None if mode == "sync" or chat else in_thread(churn, srv.address, stop, churned)
            time.sleep(1.0)  # under load
            srv.note_children()
            os.kill(srv.pid, signal.SIGTERM)
            time.sleep(0.2)
            stop.set()
            try:
                sent = [s(IO_TIMEOUT) for s in senders]
                got = [r(DRAIN + 2 * GRACE) for r in readers]
            except (AssertionError, OSError) as e:
                raise AssertionError("%r\n%s" % (e, srv.describe())) from None
            if churner:
                churner(IO_TIMEOUT)
            code = srv.wait_exit(DRAIN + GRACE)
            self.assertIsNotNone(code, "no exit after the clients finished\n" + srv.describe())
            srv.check_exit(code, 0)  # no child left, no socket file left
            self.assertEqual(fh.group_members(srv.pid), [], "processes of the server's group left")
            for i in range(n):
                if chat:  # every line the member said came back to it, in order, before the close
                    mine = [ln for ln in got[i].split(b"\n") if b" c%d line " % i in ln]
                    self.assertEqual([ln.split(b" ", 1)[1] for ln in mine], sent[i], "member %d" % i)
                else:     # every byte echoed, the last line without its '\n'
                    self.assertEqual(got[i], b"\n".join(sent[i]), "client %d: echo cut or changed" % i)
            self.assertEqual(churned["partial"], [], "a short connection got a partial reply")
            counters = fh.stopped_counters(srv)
            self.assertEqual(counters["completed"], counters["accepted"])
            self.assertEqual((counters["errors"], counters["cancelled"]), (0, 0), counters)
            self.assertGreaterEqual(counters["accepted"], n + churned["served"])
            sys.stderr.write("[%s %s %s: %d lines sent, %d short connections served, "
                             "%d refused]\n" % (cmd, kind, mode, sum(map(len, sent)), churned["served"],
                                                churned["refused"]))
        self.at_once([dict(mode=m, cmd=c, kind=k) for m in MODES
                      for c, k in (("echo", "tcp"), ("echo", "unix"), ("chat", "tcp"))], case)

    def test_idle_clients_cut_and_counted(self):
        # Clients that stay idle past the drain are cut off, and counted as cancelled
        # (not as completed: a request ends as exactly one of the two).
        def case(mode):
            srv = self.server("echo", "--listen", "tcp://127.0.0.1:0", "--mode", mode, "--drain", "1")
            n = 1 if mode == "sync" else 4
            conns = []
            for i in range(n):
                c = self.connect(srv)
                c.send(b"x\n")
                c.recv_line()
                conns.append(c)
            srv.stop(signal.SIGTERM, timeout=1 + STOP_TIMEOUT)
            self.assertEqual(fh.group_members(srv.pid), [])
            for c in conns:
                self.assertEqual(c.recv_until_closed()[0], b"")
            counters = fh.stopped_counters(srv)
            self.assertEqual((counters["accepted"], counters["completed"], counters["cancelled"]), (n, 0, n))
        self.at_once(MODES, case)


if __name__ == "__main__":
    unittest.main(verbosity=2)
