"""test_terminal.py: the program and its controlling terminal: `sockserv chat &` (a background job) never stops on the terminal's input or output; in the foreground the console runs, and losing the terminal ends only the console."""
import os
import signal
import socket
import sys
import termios
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sockserv_harness import BIN, SLOW, STOP_TIMEOUT, Case, Terminal, unique, wait_until  # noqa: E402

TCP = "tcp://127.0.0.1:0"

# A minimal job-control shell: the session leader that owns the terminal, and
# the program as a job of it, in a process group of its own, started in the
# foreground or in the background (as `sockserv chat &` is). The job's pid goes
# to PIDFILE; the shell exits with the job's status (128 + N for a signal N);
# SIGUSR1 makes the shell take the foreground back (as a shell does when a job
# is stopped with ^Z and resumed with `bg`); a hangup's SIGHUP is passed on to the
# job, as bash does.
SHELL = r"""
import ctypes, fcntl, os, signal, sys, termios
tty, where, stderr_to, pidfile = sys.argv[1:5]
argv = sys.argv[5:]
fd = os.open(tty, os.O_RDWR)           # we lead a new session: it becomes our terminal
fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a shell moves the foreground from anywhere
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    if where == "fg":
        os.tcsetpgrp(fd, os.getpid())
    signal.signal(signal.SIGTTOU, signal.SIG_DFL)  # the job gets default dispositions
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: dies with us
    os.dup2(fd, 0)
    if stderr_to == "tty":
        os.dup2(fd, 2)
    os.execv(argv[0], argv)
try:
    os.setpgid(pid, pid)
except OSError:
    pass
signal.signal(signal.SIGUSR1, lambda *_: os.tcsetpgrp(fd, os.getpgrp()))
signal.signal(signal.SIGHUP, lambda *_: os.kill(pid, signal.SIGHUP))  # as bash does at a hangup
with open(pidfile + ".tmp", "w") as f:
    f.write(str(pid))
os.rename(pidfile + ".tmp", pidfile)
_, status = os.waitpid(pid, 0)
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
"""


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0].decode()
    except OSError:
        return None


class ControllingTerminal(Case):
    def setUp(self):
        super().setUp()
        self.term = Terminal(self)
        self.slave = self.term.slave  # kept open: the terminal lives until we hang up
        self.addCleanup(os.close, self.slave)
        self.tty = os.ttyname(self.slave)

    def job(self, where, *args, stderr_to="file", tostop=False):
        """Start the program as a job of a shell that owns the terminal; returns
        (the shell's Server, the program's pid)."""
        if tostop:  # `stty tostop`: a background job writing to the terminal is stopped
            attrs = termios.tcgetattr(self.slave)
            attrs[3] |= termios.TOSTOP
            termios.tcsetattr(self.slave, termios.TCSANOW, attrs)
        pidfile = os.path.join(self.tmp, unique("job") + ".pid")
        shell = self.server("-c", SHELL, self.tty, where, stderr_to, pidfile, BIN, *args,
                            exe=sys.executable)
        self.assertTrue(wait_until(lambda: os.path.exists(pidfile), 5 * SLOW), "the shell wrote no pid")
        with open(pidfile) as f:
            pid = int(f.read())
        self.addCleanup(self.kill, pid)
        return shell, pid

    @staticmethod
    def kill(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

    def assertNotStopped(self, pid, shell):
        state = proc_state(pid)
        self.assertNotEqual(state, "T", "the server was stopped by job control\n" + shell.describe())

    def chat_roundtrip(self, shell):
        c = self.connect(shell)
        token = unique("alive").encode()
        c.send(token + b"\n")
        self.assertEqual(c.recv_line(), b"%s %s\n" % (c.hostport().encode(), token))
        c.close()

    def stop(self, shell, pid, sig=signal.SIGTERM):
        """Signal the program itself; it exits 0 (the shell reports its status)."""
        shell.note_children()
        os.kill(pid, sig)
        code = shell.wait_exit(STOP_TIMEOUT)
        if code is None:
            self.fail("the server did not exit within %.0fs of %s (state %s)\n%s"
                      % (STOP_TIMEOUT, signal.Signals(sig).name, proc_state(pid), shell.describe()))
        shell.check_exit(code, 0)

    def test_background_job_keeps_serving_after_a_keystroke(self):
        shell, pid = self.job("bg", "chat", "--listen", TCP, "--drain", "0.5")
        self.chat_roundtrip(shell)
        self.term.write(b"x")
        self.term.write(b"who\n")  # a whole line: the terminal's input is readable now
        time.sleep(0.5)
        self.assertNotStopped(pid, shell)
        self.chat_roundtrip(shell)
        self.assertNotIn(b"client", shell.stdout(), "a background job ran the console")
        self.assertNotIn(b"console", shell.stderr(), "a background job started the console")
        self.stop(shell, pid)
        self.assertIn(b"sockserv: stopped:", shell.stderr())

    def test_background_job_writes_to_a_tostop_terminal(self):
        # stderr is the terminal, with `stty tostop`: the server's lines on stderr
        # (a SIGUSR1 report, the stop line) must neither stop it nor be lost.
        shell, pid = self.job("bg", "chat", "--listen", TCP, "--drain", "0.5", stderr_to="tty", tostop=True)
        self.term.write(b"who\n")
        os.kill(pid, signal.SIGUSR1)
        self.assertTrue(wait_until(lambda: b'"accepted":' in self.term.read(), 5 * SLOW),
                        "no counters on the terminal: %r (state %s)" % (self.term.read(), proc_state(pid)))
        self.assertNotStopped(pid, shell)
        self.chat_roundtrip(shell)
        self.stop(shell, pid)
        self.assertTrue(wait_until(lambda: b"sockserv: stopped:" in self.term.read(), 2 * SLOW), self.term.read())

    def test_foreground_job_runs_the_console(self):
        shell, pid = self.job("fg", "chat", "--listen", TCP, "--drain", "0.5")
        self.assertTrue(wait_until(lambda: b"console" in shell.stderr(), 5 * SLOW),
                        "no console in the foreground\n" + shell.describe())
        c = self.connect(shell)
        c.send(b"hello\n")
        c.recv_line()
        self.term.write(b"who\n")
        self.assertTrue(wait_until(lambda: c.hostport().encode() in shell.stdout(), 5 * SLOW),
                        "the console did not list the client\n" + shell.describe())
        c.close()
        self.term.write(b"quit\n")
        code = shell.wait_exit(STOP_TIMEOUT)
        self.assertIsNotNone(code, "the console's quit did not stop the server\n" + shell.describe())
        shell.check_exit(code, 0)

    def test_moved_to_the_background_ends_only_the_console(self):
        # The job starts in the foreground with its console; the shell then takes the
        # terminal back (^Z, bg): the next input is not ours to read.
        shell, pid = self.job("fg", "chat", "--listen", TCP, "--drain", "0.5")
        self.assertTrue(wait_until(lambda: b"console" in shell.stderr(), 5 * SLOW), shell.describe())
        os.kill(shell.pid, signal.SIGUSR1)
        self.assertTrue(wait_until(lambda: os.tcgetpgrp(self.term.master) == shell.pid, 5 * SLOW),
                        "the shell did not take the foreground back")
        self.term.write(b"quit\n")  # not for the server any more: it must neither stop nor quit
        time.sleep(0.5)
        self.assertNotStopped(pid, shell)
        self.assertTrue(shell.running(), "the server quit on input it does not own\n" + shell.describe())
        self.chat_roundtrip(shell)
        self.stop(shell, pid)

    def test_terminal_hangup_ends_only_the_console(self):
        shell, pid = self.job("fg", "chat", "--listen", TCP, "--drain", "0.5")
        self.assertTrue(wait_until(lambda: b"console" in shell.stderr(), 5 * SLOW), shell.describe())
        # The terminal goes away (its window closed): the console reads its end, and the
        # SIGHUP the shell passes on to its job is ignored.
        self.term.hang_up()
        time.sleep(0.5)
        self.assertTrue(shell.running(), "the server died with its terminal\n" + shell.describe())
        self.chat_roundtrip(shell)
        self.stop(shell, pid)


if __name__ == "__main__":
    unittest.main(verbosity=2)
