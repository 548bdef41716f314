"""test_children.py: `kill -9` of forked request processes mid-request: their clients are closed, the others and new ones are served, every child is reaped (no zombie)."""
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_harness as fh  # noqa: E402
from sockserv_harness import IO_TIMEOUT, SLOW, Case, children_of, wait_until  # noqa: E402

TCP = "tcp://127.0.0.1:0"
N = 9


class KillChildren(Case):
    def start_clients(self, srv):
        """N clients, each served by a child of its own: [(conn, child pid)]."""
        out = []
        known = set()
        for i in range(N):
            c = self.connect(srv)
            c.send(b"hello %d\n" % i)
            line = c.recv_line()
            self.assertTrue(line.endswith(b"hello %d\n" % i), line)
            kids = wait_until(lambda: set(children_of(srv.pid)) - known, 5 * SLOW)
            self.assertEqual(len(kids), 1, "expected one new child for client %d, got %s" % (i, kids))
            known |= kids
            out.append((c, kids.pop()))
        return out

    def check_reaped(self, srv, pids):
        gone = wait_until(lambda: all(fh.proc_state(p) is None for p in pids), 5 * SLOW)
        self.assertTrue(gone, "killed children not reaped: %s"
                        % {p: fh.proc_state(p) for p in pids if fh.proc_state(p)})
        self.assertEqual(fh.zombies_of(srv.pid), [])

    def test_echo_children_killed_mid_request(self):
        srv = self.server("echo", "--listen", TCP, "--mode", "forking", "--drain", "1")
        clients = self.start_clients(srv)
        killed = []
        for i, (c, pid) in enumerate(clients):
            if i % 3 == 0:    # in a read: half a line sent
                c.send(b"half a line")
            elif i % 3 == 1:  # in a write: replies pile up unread
                c.sock.setblocking(False)
                try:
                    c.sock.send(b"x" * 100 + b"\n" * 5000)
                except BlockingIOError:
                    pass
                c.sock.setblocking(True)
            else:
                continue
            os.kill(pid, signal.SIGKILL)
            killed.append((c, pid))
        for c, pid in killed:
            data, how = c.recv_until_closed()  # whatever was echoed before, then EOF or reset
            self.assertTrue(set(data) <= set(b"x\n"), "unexpected bytes after the kill")
        self.check_reaped(srv, [pid for _, pid in killed])
        # The others go on, and new clients are served.
        survivors = [(c, pid) for c, pid in clients if pid not in {p for _, p in killed}]
        for c, pid in survivors:
            self.assertNotIn(fh.proc_state(pid), (None, "Z"), "a survivor's child died")
            c.send(b"still here\n")
            self.assertEqual(c.recv_line(), b"still here\n")
        for i in range(5):
            with self.connect(srv) as c:
                c.send(b"new %d\n" % i)
                self.assertEqual(c.recv_line(), b"new %d\n" % i)
        for c, _ in survivors:
            c.shutdown_write()
            self.assertEqual(c.recv_until_closed(), (b"", "eof"))
        self.check_reaped(srv, [pid for _, pid in clients])
        srv.stop()
        counters = fh.stopped_counters(srv)
        self.assertEqual(counters["accepted"], N + 5)
        self.assertEqual(counters["completed"], N + 5 - len(killed), "killed requests counted as completed")

    def test_chat_child_killed(self):
        # The room holds its own copy of each member's connection: a member whose
        # process is killed must still leave the room (its client is closed), and the
        # others keep talking.
        srv = self.server("chat", "--listen", TCP, "--mode", "forking", "--drain", "1")
        clients = self.start_clients(srv)
        victim, pid = clients[0]
        os.kill(pid, signal.SIGKILL)
        self.check_reaped(srv, [pid])
        a, b = clients[1][0], clients[2][0]
        a.send(b"after the kill\n")
        for c in (a, b):
            line = c.recv_line()
            while not line.endswith(b" after the kill\n"):  # joins announced earlier
                line = c.recv_line()
        # The victim's lines reach nobody now: it must be out of the room, closed.
        data, how = victim.recv_until_closed(timeout=IO_TIMEOUT)
        srv.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
