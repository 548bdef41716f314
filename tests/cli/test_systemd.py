"""test_systemd.py: systemd socket activation through `systemd-socket-activate` (one or two TCP sockets, a Unix socket path, UDP, IPv6; --listen too is exit 2; no LISTEN_* variable left in the program or its forked processes; SIGTERM exits 0 and leaves systemd's socket file), and docs/DEPLOYMENT.md's .socket and .service files: `systemd-analyze verify`, then the service's ExecStart, ExecReload and KillSignal run on the socket's address.

`systemd-socket-activate` (systemd's package) makes the listening sockets,
waits for the first connection (or datagram) on any of them, then execs the
program with the sockets as descriptors 3, 4, ... and LISTEN_PID,
LISTEN_FDS (and LISTEN_FDNAMES with --fdname) set, as systemd does for a
service: the first client's connection waits in the socket's backlog while
the program starts, and must be served. It passes the program a small
environment of its own (PATH, HOME, TERM and what -E names), so the test's
marker variable and any sanitizer options go through -E.

Whether a process still has LISTEN_PID is read from its live environment
(libc's `environ` array, through /proc/PID/mem), and from /proc/PID/environ:
that file shows the memory the environment was first written to at exec,
which unsetenv() does not change and a forked child inherits as it was; the
program wipes the variables' text there too (so `ps e` shows none).

The unit files are the blocks of docs/DEPLOYMENT.md marked `<!-- tested:
sockserv.socket -->` and `<!-- tested: sockserv.service -->`, with the
program's path (and, for running them here, the socket's address) changed.

Without systemd-socket-activate the tests report themselves skipped with
`apt-get install systemd`; the `systemd-analyze verify` case skips itself with
its reason where that tool cannot run (in some containers).
"""
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fault"))
import fault_harness as fh  # noqa: E402  (the stop line's counters)
from sockserv_harness import (BIN, deployment_block, IO_TIMEOUT, SLOW, START_TIMEOUT, STOP_TIMEOUT, Case,  # noqa: E402
                              children_of, connect, ipv6_available, parse_url, require, still_running, unique,
                              wait_until)

ACTIVATE = shutil.which("systemd-socket-activate") or (
    "/usr/bin/systemd-socket-activate" if os.access("/usr/bin/systemd-socket-activate", os.X_OK) else None)
require(ACTIVATE, "systemd-socket-activate is not installed: these tests pass sockets to sockserv with it",
        "apt-get install systemd")
ANALYZE = shutil.which("systemd-analyze")
# The program's environment: what systemd-socket-activate passes on (-E), besides its own.
MARK = "SOCKSERV_TEST_MARK"
PASSED_ON = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS")


def unit_values(text, key):
    """Every value of KEY= in a unit file's text (comments skipped)."""
    return [m.group(1).strip() for m in re.finditer(r"^%s=(.*)$" % re.escape(key), text, re.M)]


def free_port(family=socket.AF_INET, host="127.0.0.1", kind=socket.SOCK_STREAM):
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]

# ---------------------------------------------------------------- a process's live environment


def elf_symbol(path, names):
    """The value of the first defined dynamic symbol among names in a 64-bit
    little-endian ELF file, or None (not such a file, or no such symbol)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    for sh in sections:
        if sh[1] != 11:  # SHT_DYNSYM
            continue
        strtab = sections[sh[6]][4]
        for off in range(sh[4], sh[4] + sh[5], 24):
            st_name, _, _, st_shndx, st_value, _ = struct.unpack_from("<IBBHQQ", data, off)
            if st_shndx == 0:  # undefined here
                continue
            end = data.index(b"\0", strtab + st_name)
            if data[strtab + st_name:end] in names:
                return st_value
    return None


def live_environ(pid):
    """The environment process pid's libc sees now: its `environ` array, read through
    /proc/PID/mem. The object that defines the symbol first in lookup order (the
    executable, if it has a copy of it, else libc) is the one in use."""
    objects = []  # (path, load base) in /proc/PID/maps order: the executable first
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[5].startswith("/") and fields[2] == "00000000":
                path = fields[5].strip()
                if path not in [p for p, _ in objects]:
                    objects.append((path, int(fields[0].split("-")[0], 16)))
    exe = os.readlink("/proc/%d/exe" % pid)
    objects.sort(key=lambda o: o[0] != exe)
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        def read(addr, n):
            mem.seek(addr)
            return mem.read(n)
        for path, base in objects:
            try:
                value = elf_symbol(path, (b"environ", b"__environ"))
            except (OSError, struct.error, ValueError, IndexError):
                continue
            if value is None:
                continue
            array = struct.unpack("<Q", read(base + value, 8))[0]
            env = []
            while array and len(env) < 10000:
                ptr = struct.unpack("<Q", read(array + 8 * len(env), 8))[0]
                if not ptr:
                    return env
                text = read(ptr, 4096)
                env.append(text[:text.index(b"\0")].decode(errors="replace") if b"\0" in text else text.decode())
            return env
    raise OSError("no environ symbol found in the objects of process %d" % pid)


def initial_environ(pid):
    """/proc/PID/environ: the memory the environment was written to at exec (see the module's docstring)."""
    with open("/proc/%d/environ" % pid, "rb") as f:
        return [v.decode(errors="replace") for v in f.read().split(b"\0") if v]

# ---------------------------------------------------------------- running it


class Activated:
    """systemd-socket-activate [-d] -l ADDR... [--fdname=...] sockserv ARGS, started by a test."""

    def __init__(self, case, listens, args, datagram=False, fdnames=None, exe=None):
        self.case = case
        self.listens = listens
        self.mark = unique("mark")
        argv = (["-d"] if datagram else []) + sum((["-l", a] for a in listens), [])
        if fdnames:
            argv.append("--fdname=" + ":".join(fdnames))
        argv += ["-E", "%s=%s" % (MARK, self.mark)]
        argv += sum((["-E", "%s=%s" % (k, os.environ[k])] for k in PASSED_ON if os.environ.get(k)), [])
        self.srv = case.server(*(argv + [exe or BIN] + list(args)), exe=ACTIVATE, wait=False)
        # It says "Listening on ADDR as FD." for each socket before it waits for a client.
        if not wait_until(lambda: self.srv.stderr().count(b"Listening on") >= len(listens)
                          or not self.srv.running(), START_TIMEOUT):
            raise AssertionError("systemd-socket-activate did not listen\n%s" % self.srv.describe())
        if not self.srv.running():
            raise AssertionError("systemd-socket-activate exited\n%s" % self.srv.describe())
        self.pid = self.srv.pid  # it execs sockserv in its own process: LISTEN_PID is this pid

    def ready_lines(self, n, timeout=START_TIMEOUT):
        """The first n lines of stdout (the program's ready lines), once they are there."""
        def lines():
            out = self.srv.stdout()
            return out.count(b"\n") >= n or not self.srv.running()
        wait_until(lines, timeout)
        got = self.srv.stdout().decode(errors="replace").splitlines()
        if len(got) < n:
            raise AssertionError("%d ready lines, expected %d\n%s" % (len(got), n, self.srv.describe()))
        return got[:n]

    def urls(self, n):
        urls = []
        for line in self.ready_lines(n):
            m = re.fullmatch(r"listening on (\S+)", line)
            self.case.assertTrue(m, "not a ready line: %r" % line)
            urls.append(m.group(1))
        return urls

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal it, wait for the exit, check status 0 and no process left behind
        (a Unix socket file is checked by the caller: it is systemd's). The exit's seconds."""
        srv = self.srv
        srv.note_children()
        t0 = time.monotonic()
        os.kill(srv.pid, sig)
        code = srv.wait_exit(timeout)
        took = time.monotonic() - t0
        if code is None:
            srv.kill()
            raise AssertionError("did not exit within %.1fs of %s\n%s" % (timeout, signal.Signals(sig).name,
                                                                         srv.describe()))
        self.case.assertEqual(code, 0, srv.describe())
        left = [p for p, t in srv.kids.items() if still_running(p, t)]
        self.case.assertEqual(left, [], "processes left behind\n%s" % srv.describe())
        return took


def echo_stream(case, address, text=b"ping"):
    with connect(address) as c:
        c.send(text + b"\n")
        case.assertEqual(c.recv_line(), text + b"\n")


class Activation(Case):
    def test_one_tcp_socket(self):
        port = free_port()
        a = Activated(self, ["127.0.0.1:%d" % port], ["echo"])
        # The first client starts the program; its connection waited in the backlog.
        with connect("tcp://127.0.0.1:%d" % port) as first:
            first.send(b"first\n")
            self.assertEqual(a.urls(1), ["tcp://127.0.0.1:%d" % port])
            self.assertEqual(first.recv_line(), b"first\n")
        echo_stream(self, parse_url("tcp://127.0.0.1:%d" % port))
        a.stop()
        self.assertEqual(fh.stopped_counters(a.srv)["completed"], 2)

    def test_two_sockets_with_names(self):
        ports = [free_port(), free_port()]
        a = Activated(self, ["127.0.0.1:%d" % p for p in ports], ["echo"], fdnames=["web", "other"])
        echo_stream(self, parse_url("tcp://127.0.0.1:%d" % ports[1]), b"to the second")
        self.assertEqual(sorted(a.urls(2)), sorted("tcp://127.0.0.1:%d" % p for p in ports))
        for p in ports:
            echo_stream(self, parse_url("tcp://127.0.0.1:%d" % p))
        a.stop()
        self.assertEqual(fh.stopped_counters(a.srv)["completed"], 3)

    def test_ipv6_socket(self):
        if not ipv6_available():
            self.skipTest("no IPv6 loopback")
        port = free_port(socket.AF_INET6, "::1")
        a = Activated(self, ["[::1]:%d" % port], ["echo"])
        url = "tcp://[::1]:%d" % port
        echo_stream(self, parse_url(url))
        self.assertEqual(a.urls(1), [url])
        a.stop()

    def test_unix_socket_file_is_systemds(self):
        path = os.path.join(self.tmp, "activated.sock")
        a = Activated(self, [path], ["echo", "--mode", "event"])
        echo_stream(self, parse_url("unix:" + path))
        self.assertEqual(a.urls(1), ["unix:" + path])
        echo_stream(self, parse_url("unix:" + path))
        a.stop()
        self.assertTrue(os.path.exists(path), "sockserv removed the socket file systemd made\n%s"
                        % a.srv.describe())

    def test_datagram_socket(self):
        port = free_port(kind=socket.SOCK_DGRAM)
        a = Activated(self, ["127.0.0.1:%d" % port], ["echo"], datagram=True)
        url = "udp://127.0.0.1:%d" % port
        with connect(url) as d:
            d.send(b"first datagram")  # starts the program, waits in the socket
            self.assertEqual(a.urls(1), [url])
            self.assertEqual(d.recv(), b"first datagram")
            d.send(b"second")
            self.assertEqual(d.recv(), b"second")
        a.stop()

    def test_listen_too_is_a_usage_error(self):
        port = free_port()
        a = Activated(self, ["127.0.0.1:%d" % port], ["echo", "--listen", "tcp://127.0.0.1:0"])
        try:  # starts the program, which refuses to serve: the connection may be reset meanwhile
            with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT):
                code = a.srv.wait_exit(START_TIMEOUT)
        except (ConnectionResetError, ConnectionRefusedError):
            code = a.srv.wait_exit(START_TIMEOUT)
        self.assertEqual(code, 2, a.srv.describe())
        err = a.srv.stderr().decode(errors="replace")
        self.assertIn("--listen", err)
        self.assertRegex(err, r"(?i)systemd|LISTEN_FDS|activat|passed", "the message does not name the sockets "
                         "passed by systemd:\n%s" % err)
        self.assertEqual(a.srv.stdout(), b"", "no ready line for a usage error")

    def test_no_listen_variables_in_the_program_or_its_children(self):
        port = free_port()
        a = Activated(self, ["127.0.0.1:%d" % port], ["echo", "--mode", "forking"])
        url = "tcp://127.0.0.1:%d" % port
        with connect(url) as c:  # served by a forked request process, which stays while c is open
            c.send(b"hold\n")
            self.assertEqual(a.urls(1), [url])
            self.assertEqual(c.recv_line(), b"hold\n")
            kids = wait_until(lambda: list(children_of(a.pid)), 5 * SLOW)
            self.assertTrue(kids, "no request process under forking mode\n%s" % a.srv.describe())
            # The variables were passed (the program serves the socket systemd made)...
            for pid, who in [(a.pid, "the program")] + [(k, "request process %d" % k) for k in kids]:
                self.assertEqual([v for v in initial_environ(pid) if v.startswith("LISTEN_")], [],
                                 "%s's /proc/%d/environ still shows the activation variables" % (who, pid))
                try:
                    env = live_environ(pid)
                except OSError as e:
                    self.skipTest("cannot read process %d's memory (%s): ptrace not allowed here" % (pid, e))
                # ...the reader works (the marker is there), and they are gone.
                self.assertIn("%s=%s" % (MARK, a.mark), env, "the environment read from %s is not its own" % who)
                self.assertEqual([v for v in env if v.startswith("LISTEN_")], [],
                                 "%s still has the activation variables" % who)
        a.stop()


class UnitFiles(Case):
    """docs/DEPLOYMENT.md's sockserv.socket and sockserv.service."""

    def units(self):
        """The two files, written to the temp dir with this build's program in ExecStart."""
        socket_unit = deployment_block("sockserv.socket")
        service = deployment_block("sockserv.service")
        starts = unit_values(service, "ExecStart")
        self.assertEqual(len(starts), 1)
        program = shlex.split(starts[0])[0]
        self.assertEqual(os.path.basename(program), "sockserv", starts[0])
        service = service.replace("ExecStart=%s " % program, "ExecStart=%s " % BIN)
        paths = {}
        for name, text in (("sockserv.socket", socket_unit), ("sockserv.service", service)):
            paths[name] = os.path.join(self.tmp, name)
            with open(paths[name], "w") as f:
                f.write(text)
        return socket_unit, service, paths

    def test_verify(self):
        require(ANALYZE, "systemd-analyze is not installed", "apt-get install systemd")
        _, _, paths = self.units()
        p = subprocess.run([ANALYZE, "verify", "--man=no", paths["sockserv.socket"], paths["sockserv.service"]],
                           capture_output=True, text=True, timeout=60 * SLOW, cwd=self.tmp)
        out = (p.stdout + p.stderr).strip()
        # Where systemd-analyze cannot work at all (no /proc/1 of its own, a seccomp
        # profile), it fails before reading the units: that is this machine, not the units.
        if p.returncode != 0 and not re.search(r"sockserv\.(socket|service)", out):
            self.skipTest("systemd-analyze verify cannot run here (exit %d: %s)"
                          % (p.returncode, out.splitlines()[-1] if out else "no output"))
        self.assertEqual(p.returncode, 0, out)
        about = [line for line in out.splitlines() if "sockserv." in line]
        self.assertEqual(about, [], "systemd-analyze verify has something to say about the units:\n%s" % out)

    def test_service_runs_on_the_socket(self):
        socket_unit, service, _ = self.units()
        listens = unit_values(socket_unit, "ListenStream")
        self.assertEqual(len(listens), 1, socket_unit)
        doc_port = listens[0].rsplit(":", 1)[1]
        port = free_port()
        argv = shlex.split(unit_values(service, "ExecStart")[0])
        a = Activated(self, ["127.0.0.1:%d" % port], argv[1:], exe=argv[0])
        url = "tcp://127.0.0.1:%d" % port
        self.assertTrue(doc_port.isdigit())
        held = connect(url)  # starts the service; stays open across the reload
        self.addCleanup(held.close)
        held.send(b"before\n")
        self.assertEqual(a.urls(1), [url])
        self.assertEqual(held.recv_line(), b"before\n")
        echo_stream(self, parse_url(url))
        # ExecReload, with $MAINPID: the reload replaces the workers; the open
        # connection is still served by its (old) worker, new ones by the new workers.
        workers = set(wait_until(lambda: children_of(a.pid) if len(children_of(a.pid)) >= 2 else None, 5 * SLOW)
                      or ())
        reload_argv = [w.replace("$MAINPID", str(a.pid)) for w in shlex.split(unit_values(service, "ExecReload")[0])]
        subprocess.run(reload_argv, check=True, timeout=10 * SLOW)
        replaced = wait_until(lambda: len(set(children_of(a.pid)) - workers) >= len(workers), 10 * SLOW)
        self.assertTrue(replaced, "no new workers after ExecReload (%s)\n%s" % (reload_argv, a.srv.describe()))
        echo_stream(self, parse_url(url), b"after the reload")
        held.send(b"still here\n")
        self.assertEqual(held.recv_line(), b"still here\n")
        held.close()
        # KillSignal: exit 0 within TimeoutStopSec.
        sig = getattr(signal, unit_values(service, "KillSignal")[0])
        limit = float(unit_values(service, "TimeoutStopSec")[0].rstrip("s"))
        drain = float(argv[argv.index("--drain") + 1])
        self.assertLess(drain, limit, "TimeoutStopSec must leave room for the drain")
        took = a.stop(sig=sig, timeout=limit * SLOW)
        self.assertLess(took, limit * SLOW)
        counters = fh.stopped_counters(a.srv)
        self.assertEqual(counters["errors"], 0, a.srv.describe())


if __name__ == "__main__":
    unittest.main(verbosity=2)
