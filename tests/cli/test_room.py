"""test_room.py: `sockserv chat --room redis://...`: one room over several processes through a Redis pub/sub channel (a redis-server of the test's own): every member sees every line once, in one order, with its sender's prefix; a member that never reads is cut off alone; Redis killed and restarted: local delivery goes on, shared delivery resumes, no fd grows; --processes 2; two processes behind one HAProxy frontend; a Redis that wants AUTH (a password, an ACL user limited to the channel; refusals said, local delivery meanwhile); what another client publishes on the channel never reaches a member raw; usage errors.

Without a sockserv built with hiredis, or without redis-server, the tests that
need them report themselves skipped with the install command (exit 77 when
nothing ran).
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sockserv_harness as harness  # noqa: E402
from sockserv_harness import (SLOW, Case, ChatMember, Terminal, deployment_block, require, run,  # noqa: E402
                              unique, wait_until)

TCP = "tcp://127.0.0.1:0"
REDIS_SERVER = shutil.which("redis-server") or next(
    (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.access(p, os.X_OK)), None)
REPLACEMENT = "\ufffd".encode()


def program_has_redis():
    """False when sockserv says it was built without Redis support (before parsing the URL)."""
    code, _, err = run(["chat", "--room", "bogus"])
    return not (code == 2 and "without Redis" in err)


HAS_REDIS = program_has_redis()
NO_REDIS_BUILD = ("sockserv was built without hiredis (chat --room)",
                  "apt-get install libhiredis-dev, then rebuild sockserv")
NO_REDIS_SERVER = ("redis-server is not installed: these tests run a Redis of their own",
                   "apt-get install redis-server")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resp(*args):
    """A Redis command in RESP."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Redis:
    """A redis-server on a free loopback port, in the foreground, killed at cleanup; commands
    through a raw socket speaking RESP (no client library needed)."""

    def __init__(self, case, port=None, args=(), auth=()):
        """args: more of redis-server's options; auth: what this helper's commands AUTH with."""
        self.case = case
        self.args = list(args)
        self.auth = auth
        self.port = port or free_port()
        self.log = os.path.join(case.tmp, "redis-%d.log" % self.port)
        self.proc = None
        self.start()
        case.addCleanup(self.kill)

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--logfile", self.log] + self.args,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=harness._die_with_parent)
        if not wait_until(lambda: self.proc.poll() is not None or self.ping(), 10 * SLOW) or \
                self.proc.poll() is not None:
            raise AssertionError("redis-server did not start on port %d:\n%s" % (self.port, self.describe()))

    def describe(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return "(no log)"

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def command(self, *args, timeout=5):
        """One command: its reply, parsed enough for these tests (integers, strings, arrays)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            f = s.makefile("rb")
            if self.auth:
                s.sendall(resp("AUTH", *self.auth))
                assert self._reply(f) == "OK", "the test's own AUTH refused"
            s.sendall(resp(*args))
            return self._reply(f)

    def _reply(self, f):
        line = f.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b":":
            return int(rest)
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else f.read(n + 2)[:-2]
        if kind == b"*":
            return [self._reply(f) for _ in range(int(rest))]
        raise AssertionError("unexpected reply from Redis: %r" % line)

    def ping(self):
        try:
            return self.command("PING", timeout=1) == "PONG"
        except OSError:
            return False

    def subscribers(self, channel="sockserv:chat"):
        try:
            return self.command("PUBSUB", "NUMSUB", channel)[1]
        except OSError:
            return -1


class RoomCase(Case):
    def setUp(self):
        super().setUp()
        require(HAS_REDIS, *NO_REDIS_BUILD)
        require(REDIS_SERVER, *NO_REDIS_SERVER)

    def chat(self, room, *args, env=None):
        return self.server("chat", "--listen", TCP, "--room", room, "--drain", "0.5", *args, env=env)

    def shared_count(self, srv):
        """How many times the process said its room is shared (again)."""
        return srv.stderr().count(b"room shared")

    def wait_shared(self, redis, servers, notices=1, timeout=10 * SLOW):
        """Every server's room is shared: each subscribed (Redis counts them) and each said so
        `notices` times in all."""
        ok = wait_until(lambda: redis.subscribers() >= len(servers) and
                        all(self.shared_count(s) >= notices for s in servers), timeout)
        if not ok:
            self.fail("rooms not shared within %.0fs (%d subscribers)\n%s" % (
                timeout, redis.subscribers(), "\n".join(s.describe() for s in servers)))

    def join(self, srv):
        """A member, in the room once its own first line came back."""
        c = self.connect(srv)
        m = ChatMember.join(c)
        self.assertEqual(m.prefix.decode(), c.hostport())
        return m

    def settle(self, members):
        ChatMember.settle(members)

    def say_each(self, members, tag):
        """Each member says one line of its own; the lines as every member should read them."""
        said = []
        for m in members:
            text = unique(tag).encode()
            m.say(text)
            said.append(m.prefix + b" " + text + b"\n")
        return said

    def assert_same_order(self, members, said):
        """Each member reads exactly the lines said (prefix TEXT), once each, all in one order."""
        want = sorted(said)
        orders = []
        for m in members:
            got = [m.line() for _ in range(len(said))]
            self.assertEqual(sorted(got), want, "a member missed a line or got one twice")
            orders.append(got)
        for o in orders[1:]:
            self.assertEqual(o, orders[0], "two members saw the lines in different orders")


class Shared(RoomCase):
    def run_room(self, modes, per):
        redis = Redis(self)
        servers = [self.chat(redis.url, "--mode", mode) for mode in modes]
        self.wait_shared(redis, servers)
        members = [self.join(s) for s in servers for _ in range(per)]
        self.settle(members)
        said = []
        # Everyone at once, several lines each: the channel alone orders them.
        for k in range(5):
            for m in members:
                text = ("line %d of %s" % (k, m.prefix.decode())).encode()
                m.say(text)
                said.append(m.prefix + b" " + text + b"\n")
        self.assert_same_order(members, said)
        for s in servers:
            s.stop()

    def test_two_processes(self):
        # forking: each member's handler in a process of its own, which closes its
        # copies of the Redis connections (room.c's atfork handler).
        self.run_room(["event", "forking"], 2)

    def test_three_processes(self):
        self.run_room(["threading", "pool", "event"], 2)

    def test_channel_in_url(self):
        redis = Redis(self)
        a = self.chat(redis.url + "/room:a")
        b = self.chat(redis.url + "/room:b")
        c = self.chat(redis.url + "/room:a")
        wait_until(lambda: redis.subscribers("room:a") == 2 and redis.subscribers("room:b") == 1, 10 * SLOW)
        self.assertEqual(redis.subscribers("room:a"), 2)
        for s in (a, b, c):
            wait_until(lambda s=s: self.shared_count(s) >= 1, 10 * SLOW)
        ma, mb, mc = self.join(a), self.join(b), self.join(c)
        ma.say(b"only room a")
        self.assertEqual(mc.skip_to(b"only room a")[1], ma.prefix + b" only room a\n")
        mb.conn.assert_open(0.5)  # nothing for room b
        for s in (a, b, c):
            s.stop()

    def test_slow_reader_cut_off_alone(self):
        redis = Redis(self)
        s1, s2 = self.chat(redis.url), self.chat(redis.url)
        self.wait_shared(redis, [s1, s2])
        readers = [self.join(s1), self.join(s2)]
        # A member that never reads, with a small receive buffer, on the second process.
        lazy_conn = self.connect(s2, rcvbuf=4096)
        lazy_conn.send(b"hello\n")
        for r in readers:
            r.skip_to(b"hello")
        text = b"x" * 8000
        t0 = time.monotonic()
        n = 1100  # 8.8 MB: far past the lazy member's 1 MiB backlog and its socket buffers
        for i in range(n):
            readers[i % 2].say(b"%d " % i + text)
            if i % 32 == 31:  # let the readers keep up
                for r in readers:
                    r.skip_to(b"%d " % i + text, timeout=20 * SLOW)
        for r in readers:
            r.skip_to(b"%d " % (n - 1) + text, timeout=20 * SLOW)
        took = time.monotonic() - t0
        self.assertLess(took, 60 * SLOW, "the readers were slowed down")
        data, _ = lazy_conn.recv_until_closed(timeout=20 * SLOW)
        self.assertLess(len(data), n * len(text), "the lazy member got everything: never cut off?")
        self.assertIn(b"does not read", s2.stderr())
        self.assertNotIn(b"disconnecting", s1.stderr())
        sys.stderr.write("[room: %.1f MB through Redis to 2 readers in %.2fs; lazy member cut off "
                         "after %d KiB]\n" % (n * len(text) / 1e6, took, len(data) // 1024))
        self.assertTrue(s1.running() and s2.running())
        # The others are still in the room, and it is still shared.
        readers[0].say(b"still here")
        for r in readers:
            r.skip_to(b"still here")

    def test_garbage_on_the_channel(self):
        redis = Redis(self)
        s1, s2 = self.chat(redis.url), self.chat(redis.url)
        self.wait_shared(redis, [s1, s2])
        a, b = self.join(s1), self.join(s2)
        self.settle([a, b])
        junk = [
            b"hello",
            b"",
            b"sockserv/1 ",
            b"sockserv/1 nospace",
            b"sockserv/1  empty-peer",
            b"sockserv/1 \x1b[2J:1 text",            # a peer with a control byte
            b"sockserv/1 " + b"p" * 600 + b" too long a peer",
            b"sockserv/2 1.2.3.4:5 another version",
            b"sockserv/1 1.2.3.4:5 " + b"t" * 70000,  # past --max-line's default (65536)
            b"\x00\xff" * 1000,
            b"z" * (1 << 20),
        ]
        for j in junk:
            self.assertEqual(redis.command("PUBLISH", "sockserv:chat", j), 2)
        # Well formed, with what could drive a terminal: delivered, cleaned.
        redis.command("PUBLISH", "sockserv:chat", b"sockserv/1 1.2.3.4:5 \x1b[31mred\x07 \xe2\x80\xae")
        a.say(b"after")
        for m in (a, b):
            before, line = m.skip_to(b"after")
            self.assertEqual(before, [b"1.2.3.4:5 " + REPLACEMENT + b"[31mred" + REPLACEMENT + b" " +
                                      REPLACEMENT + b"\n"])
            self.assertEqual(line, a.prefix + b" after\n")
        for s in (s1, s2):
            self.assertIn(b"not a chat line of sockserv's", s.stderr())
            self.assertTrue(s.running())
        self.assertEqual(self.shared_count(s1), 1, "the room was not shared all along\n" + s1.describe())


class Outage(RoomCase):
    def test_unreachable_at_start(self):
        port = free_port()
        srv = self.chat("redis://127.0.0.1:%d" % port)
        a, b = self.join(srv), self.join(srv)
        a.say(b"local")
        for m in (a, b):
            m.skip_to(b"local")
        # Attempt after attempt (0.1 s, 0.2 s, ... 1.6 s) leaves no descriptor behind,
        # and is said once.
        fds = srv.fd_count()
        time.sleep(3 * SLOW)
        self.assertFdsSettle(srv, fds)
        self.assertEqual(srv.stderr().count(b"cannot reach Redis"), 1, srv.describe())
        # Redis comes: the room is shared.
        redis = Redis(self, port)
        self.wait_shared(redis, [srv], timeout=15 * SLOW)
        a.say(b"shared")
        for m in (a, b):
            m.skip_to(b"shared")

    def test_kill_and_restart(self):
        redis = Redis(self)
        servers = [self.chat(redis.url), self.chat(redis.url)]
        self.wait_shared(redis, servers)
        groups = [[self.join(s), self.join(s)] for s in servers]
        everyone = groups[0] + groups[1]
        self.settle(everyone)
        fds = [s.fd_count() for s in servers]
        rss = [harness.rss_kib(s.pid) for s in servers]
        for cycle in range(3):
            redis.kill()
            for s in servers:
                ok = wait_until(lambda s=s: s.stderr().count(b"lost Redis") >= cycle + 1, 10 * SLOW)
                self.assertTrue(ok, "no warning of the loss\n" + s.describe())
            # Local delivery goes on, within each process only.
            for g in groups:
                text = unique("local").encode()
                g[0].say(text)
                for m in g:
                    self.assertEqual(m.skip_to(text)[0], [])
            for m in everyone:  # and nothing from the other process
                m.conn.assert_open(0.2)
            t0 = time.monotonic()
            redis.start()
            self.wait_shared(redis, servers, notices=cycle + 2, timeout=15 * SLOW)
            self.assertLess(time.monotonic() - t0, 10 * SLOW)
            self.settle(everyone)
            self.assert_same_order(everyone, self.say_each(everyone, "shared"))
        for s, before in zip(servers, fds):
            self.assertTrue(s.running())
            self.assertFdsSettle(s, before)
            self.assertEqual(s.stderr().count(b"lost Redis"), 3, "said more than once a loss\n" + s.describe())
            self.assertNotIn(b"disconnecting", s.stderr())
        for s, before in zip(servers, rss):  # a little for caches and arenas, not a leak per cycle
            self.assertLess(harness.rss_kib(s.pid) - before, 4096, "memory grew across the cycles")


class Stalled(RoomCase):
    def test_stopped_redis(self):
        # SIGSTOP: the connections stay open and nothing answers. Within a few seconds
        # the process takes Redis as lost and its members hear each other again.
        redis = Redis(self)
        srv = self.chat(redis.url)
        self.wait_shared(redis, [srv])
        a, b = self.join(srv), self.join(srv)
        self.settle([a, b])
        os.kill(redis.proc.pid, signal.SIGSTOP)
        self.addCleanup(lambda: redis.proc.poll() is None and os.kill(redis.proc.pid, signal.SIGCONT))
        # Published, and Redis answers nothing: past 4 MiB waiting, lines are dropped.
        a.conn.send(b"".join(b"void %d %s\n" % (i, b"v" * 8000) for i in range(640)))
        ok = wait_until(lambda: b"lost Redis" in srv.stderr(), 10 * SLOW)
        self.assertTrue(ok, "a stopped Redis was not noticed\n" + srv.describe())
        self.assertIn(b"answers no PUBLISH", srv.stderr())
        self.assertIn(b"a line was dropped", srv.stderr())
        a.say(b"heard here")
        for m in (a, b):
            self.assertTrue(m.skip_to(b"heard here")[1].endswith(b" heard here\n"))
        os.kill(redis.proc.pid, signal.SIGCONT)
        self.wait_shared(redis, [srv], notices=2, timeout=15 * SLOW)
        self.settle([a, b])
        self.assertTrue(srv.running())
        self.assertNotIn(b"disconnecting", srv.stderr())
        srv.stop()


class Console(RoomCase):
    def test_listing_says_whether_shared(self):
        term = Terminal(self)
        redis = Redis(self)
        srv = self.server("chat", "--listen", TCP, "--room", redis.url, "--drain", "0.5", stdin=term.slave)
        term.close_slave()
        self.wait_shared(redis, [srv])

        def listing():
            return srv.stdout() + term.read()

        term.write(b"who\n")
        want = b"room shared through " + redis.url.encode() + b"/sockserv:chat"
        self.assertTrue(wait_until(lambda: want in listing(), 5 * SLOW, step=0.1), listing())
        redis.kill()
        self.assertTrue(wait_until(lambda: b"lost Redis" in srv.stderr(), 10 * SLOW), srv.describe())
        term.write(b"who\n")
        self.assertTrue(wait_until(lambda: b"room not shared right now" in listing(), 5 * SLOW, step=0.1),
                        listing())
        srv.stop()


class Processes(RoomCase):
    def test_two_workers_one_room(self):
        redis = Redis(self)
        srv = self.chat(redis.url, "--processes", "2")
        self.wait_shared(redis, [srv], notices=2)
        self.assertEqual(redis.subscribers(), 2)
        workers = harness.live_children(srv.pid)
        self.assertEqual(len(workers), 2)
        before = {w: harness.fd_count(w) for w in workers}
        members = []
        for _ in range(20):  # until both workers have some (the kernel picks)
            members.append(self.join(srv))
            if len(members) >= 4 and all(harness.fd_count(w) > before[w] for w in workers):
                break
        self.assertTrue(all(harness.fd_count(w) > before[w] for w in workers),
                        "every member went to one worker")
        self.settle(members)
        self.assert_same_order(members, self.say_each(members, "w"))
        srv.stop()


HAPROXY = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy", "/sbin/haproxy")
                                           if os.access(p, os.X_OK)), None)


def listening(port):
    """Something listens on 127.0.0.1:port (from /proc/net/tcp: no probe connection)."""
    want = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        return any(len(fl) > 3 and fl[1] == want and fl[3] == "0A" for fl in (line.split() for line in f))


class BehindHaproxy(RoomCase):
    def test_two_processes_behind_one_frontend(self):
        require(HAPROXY, "haproxy is not installed: this test runs one in front of two sockserv",
                "apt-get install haproxy")
        redis = Redis(self)
        backends = [self.chat(redis.url, "--proxy-protocol") for _ in range(2)]
        self.wait_shared(redis, backends)
        port = free_port()
        cfg = os.path.join(self.tmp, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write("global\n    maxconn 256\n"
                    "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 1h\n"
                    "    timeout server 1h\n"
                    "frontend chat\n    bind 127.0.0.1:%d\n    default_backend chat\n"
                    "backend chat\n    balance roundrobin\n    default-server send-proxy-v2\n"
                    "    server chat1 127.0.0.1:%d\n    server chat2 127.0.0.1:%d\n"
                    % (port, backends[0].address.addr[1], backends[1].address.addr[1]))
        err = open(os.path.join(self.tmp, "haproxy.stderr"), "ab")
        self.addCleanup(err.close)
        proc = subprocess.Popen([HAPROXY, "-db", "-f", cfg], stdin=subprocess.DEVNULL, stdout=err,
                                stderr=err, start_new_session=True, preexec_fn=harness._die_with_parent)
        self.addCleanup(lambda: (proc.poll() is None and proc.kill(), proc.wait(10)))
        self.assertTrue(wait_until(lambda: proc.poll() is not None or listening(port), 10 * SLOW) and
                        proc.poll() is None, "haproxy did not start")
        fds = [b.fd_count() for b in backends]
        members = []
        for i in range(4):  # from 127.0.0.2 ... 127.0.0.5: the prefix can only come from PROXY
            sock = socket.socket()
            sock.settimeout(10 * SLOW)
            sock.bind(("127.0.0.%d" % (i + 2), 0))
            sock.connect(("127.0.0.1", port))
            c = harness.Conn(sock)
            self.addCleanup(c.close)
            m = ChatMember.join(c)
            self.assertEqual(m.prefix.decode(), c.hostport(), "the prefix is not the client's own")
            members.append(m)
        self.assertTrue(all(b.fd_count() > n for b, n in zip(backends, fds)),
                        "HAProxy did not spread the members over both processes")
        self.settle(members)
        self.assert_same_order(members, self.say_each(members, "via haproxy"))


def with_credentials(user=None, password=None):
    """The environment with the room's credentials set (None: left out)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SOCKSERV_REDIS_USER", "SOCKSERV_REDIS_PASSWORD")}
    if user is not None:
        env["SOCKSERV_REDIS_USER"] = user
    if password is not None:
        env["SOCKSERV_REDIS_PASSWORD"] = password
    return env


class Credentials(RoomCase):
    """A Redis that wants AUTH: requirepass, and an ACL user allowed PING, PUBLISH and SUBSCRIBE
    on the chat's channels only (Redis 6 and later)."""

    PASSWORD = "s3cret-\u00e9%$*"  # bytes beyond ASCII, and RESP's own markers

    @property
    def ACL(self):
        """docs/DEPLOYMENT.md's user line, its password made chat-pw, as redis-server's options."""
        lines = [line for line in deployment_block("redis-acl").splitlines() if line.startswith("user ")]
        self.assertEqual(len(lines), 1, "one user line in the redis-acl block")
        words = lines[0].replace("CHAT-PASSWORD", "chat-pw").split()
        return ["--" + words[0]] + words[1:]

    def redis(self):
        return Redis(self, args=["--requirepass", self.PASSWORD] + self.ACL, auth=(self.PASSWORD,))

    def test_password_and_acl_user_share_one_room(self):
        redis = self.redis()
        servers = [self.chat(redis.url, env=with_credentials(password=self.PASSWORD)),
                   self.chat(redis.url, env=with_credentials(user="chat", password="chat-pw"))]
        self.wait_shared(redis, servers)
        members = [self.join(s) for s in servers for _ in range(2)]
        self.settle(members)
        self.assert_same_order(members, self.say_each(members, "authenticated"))
        for s, secret in zip(servers, (self.PASSWORD.encode(), b"chat-pw")):
            self.assertNotIn(b"refused", s.stderr(), s.describe())
            # Taken, then wiped: /proc shows the block the process started with. (Not under
            # valgrind, whose own block that is: the program runs on a copy.)
            if os.path.basename(os.readlink("/proc/%d/exe" % s.pid)) == "sockserv":
                with open("/proc/%d/environ" % s.pid, "rb") as f:
                    self.assertNotIn(secret, f.read())

    def test_refused_says_why_and_serves_locally(self):
        redis = self.redis()
        cases = [(with_credentials(), b"Redis refused PING: NOAUTH"),
                 (with_credentials(password="wrong"), b"Redis refused AUTH: WRONGPASS"),
                 (with_credentials(user="chat", password="wrong"), b"Redis refused AUTH: WRONGPASS"),
                 (with_credentials(user="nobody", password="chat-pw"), b"Redis refused AUTH: WRONGPASS"),
                 (with_credentials(password="p" * 512), b"Redis refused AUTH: WRONGPASS")]
        for env, why in cases:
            with self.subTest(why=why, user=env.get("SOCKSERV_REDIS_USER")):
                srv = self.chat(redis.url, env=env)
                self.assertTrue(wait_until(lambda: why in srv.stderr(), 10 * SLOW), srv.describe())
                members = [self.join(srv), self.join(srv)]
                self.settle(members)
                self.assert_same_order(members, self.say_each(members, "local"))
                self.assertTrue(srv.running())
                self.assertEqual(srv.stderr().count(b"cannot reach Redis"), 1, srv.describe())
                srv.stop()

    def test_channel_the_user_may_not_use(self):
        redis = self.redis()
        srv = self.chat(redis.url + "/elsewhere", env=with_credentials(user="chat", password="chat-pw"))
        self.assertTrue(wait_until(lambda: b"NOPERM" in srv.stderr(), 10 * SLOW), srv.describe())
        self.assertTrue(srv.running())

    def test_mistakes_in_the_environment(self):
        require(HAS_REDIS, *NO_REDIS_BUILD)
        url = "redis://127.0.0.1:6379"
        for env, what in ((with_credentials(user="chat"), "SOCKSERV_REDIS_USER is set without"),
                          (with_credentials(password=""), "SOCKSERV_REDIS_PASSWORD is empty"),
                          (with_credentials(user="", password="x"), "SOCKSERV_REDIS_USER is empty"),
                          (with_credentials(password="p" * 513), "longer than 512 bytes")):
            with self.subTest(what=what):
                self.assertUsageError(run(["chat", "--room", url], env=env), [what])


class Usage(Case):
    def test_processes_without_room(self):
        self.assertUsageError(run(["chat", "--processes", "2"]), ["--room"])

    def test_room_with_echo(self):
        r = run(["echo", "--room", "redis://127.0.0.1:6379"])
        self.assertUsageError(r, ["--room"])

    def test_not_built(self):
        if HAS_REDIS:
            self.skipTest("sockserv was built with hiredis")
        self.assertUsageError(run(["chat", "--room", "redis://127.0.0.1:6379"]),
                              ["without Redis", "apt-get install libhiredis-dev"])

    def test_bad_urls(self):
        require(HAS_REDIS, *NO_REDIS_BUILD)
        for url in ("", "127.0.0.1:6379", "http://127.0.0.1:6379", "redis://", "redis://:6379",
                    "redis://host", "redis://host:", "redis://host:0", "redis://host:65536",
                    "redis://host:123456", "redis://host:-1", "redis://host:+1", "redis://host:1x",
                    "redis://host:1/", "redis://host:1/a b", "redis://host:1/a/b", "redis://host:1/\x1b",
                    "redis://host:1/" + "c" * 129, "redis://[::1:6379", "redis://[]:6379",
                    "redis://[zz]:6379", "redis://ho_st:1", "redis://-host:1", "redis://host-:1",
                    "redis://a..b:1", "redis://" + "h" * 254 + ":1", "redis://user@host:1",
                    "redis://host:1?x"):
            with self.subTest(url=url):
                self.assertUsageError(run(["chat", "--room", url]), starts="sockserv: invalid --room URL")

    def test_unresolvable_host(self):
        require(HAS_REDIS, *NO_REDIS_BUILD)
        code, _, err = run(["chat", "--listen", TCP, "--room", "redis://no-such-host.invalid:6379"])
        self.assertEqual(code, 1, err)
        self.assertIn("cannot find the address", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
