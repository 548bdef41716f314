"""test_tls.py: `sockserv echo|chat --listen tls://...`: echo and chat over TLS in every mode (Python's ssl and openssl s_client as clients), mutual TLS, handshakes that fail (named on stderr, counted, never reaching the handler, nothing leaked), SIGHUP reloads under load, session resumption, ALPN, and the errors a user can make.

The certificates are made at each run by the openssl command, in a temp dir: a root
CA, an intermediate CA that signs the server's certificates (so --tls-cert holds a
chain), a CA for clients, another CA, and client certificates from each, one of them
expired (`openssl ca -startdate/-enddate`, which Debian 12's OpenSSL 3.0 has). Without
the openssl command, or with a sockserv built without TLS, the module reports itself
skipped with the install command (exit 77).
"""
import atexit
import hashlib
import os
import re
import select
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fault"))
import fault_harness as fh  # noqa: E402  (the stop line's counters, the failure lines)
from sockserv_harness import (IO_TIMEOUT, MODES, SLOW, Case, Conn, close_tls, connect, in_thread,  # noqa: E402
                              ipv6_available, require, run, wait_until)
from test_chat import ChatCase  # noqa: E402  (members that join, rooms that settle)

OPENSSL = shutil.which("openssl")
require(OPENSSL, "the openssl command is not installed: the TLS tests make their certificates with it",
        "apt-get install openssl")


def program_has_tls():
    """False when sockserv says it was built without TLS (it checks before reading a file)."""
    code, _, err = run(["echo", "--listen", "tls://127.0.0.1:0", "--tls-cert", "/nonexistent/cert.pem",
                        "--tls-key", "/nonexistent/key.pem"])
    return not (code == 2 and "without TLS" in err)


require(program_has_tls(), "sockserv was built without TLS (OpenSSL 3)",
        "apt-get install libssl-dev, then rebuild sockserv")

GRACE = 10 * SLOW  # a generous bound for what should take well under a second

# ---------------------------------------------------------------- certificates

OPENSSL_CNF = """\
# The test's own OpenSSL configuration: the system's is never read.
[req]
distinguished_name = dn
[dn]
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[intermediate_ext]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
# `openssl ca`, for the certificate that expired in 2020.
[ca]
default_ca = clients_ca
[clients_ca]
database = ca-index.txt
new_certs_dir = .
serial = ca-serial
default_md = sha256
policy = any_name
unique_subject = no
[any_name]
commonName = supplied
"""


class Identity:
    """A certificate file (PEM, maybe a chain) and its key file."""

    def __init__(self, cert, key):
        self.cert, self.key = cert, key

    def der(self):
        """The first certificate of the file (the leaf), as DER."""
        with open(self.cert) as f:
            pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", f.read(), re.S)
        return ssl.PEM_cert_to_DER_cert(pem.group(0))


class Pki:
    """Every certificate the tests use, made once per run with the openssl command."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sockserv-tls-")
        atexit.register(shutil.rmtree, self.dir, True)
        self.serial = 100
        with open(self.path("openssl.cnf"), "w") as f:
            f.write(OPENSSL_CNF)
        self.root = self.ca("root", "sockserv test root CA")
        inter = self.signed("intermediate", "sockserv test intermediate CA", self.root, "intermediate_ext")
        # The server's certificates come from the intermediate CA: --tls-cert is a chain.
        self.server = self.chain(self.signed("server", "localhost", inter, "server_ext"), inter)
        self.server2 = self.chain(self.signed("server2", "localhost", inter, "server_ext"), inter)
        self.clients_ca = self.ca("clients-ca", "sockserv test clients CA")
        self.other_ca = self.ca("other-ca", "another CA")
        self.client = self.signed("client", "client one", self.clients_ca, "client_ext")
        self.stranger = self.signed("stranger", "client of another CA", self.other_ca, "client_ext")
        self.expired = self.expired_client("expired", "expired client", self.clients_ca)
        self.encrypted_key = self.path("encrypted.key")
        self.openssl("pkey", "-in", self.server.key, "-out", self.encrypted_key, "-aes256",
                     "-passout", "pass:secret")
        self.not_pem = self.path("not-pem.txt")
        with open(self.not_pem, "w") as f:
            f.write("this is not a PEM file\n")

    def path(self, name):
        return os.path.join(self.dir, name)

    def openssl(self, *args):
        p = subprocess.run([OPENSSL] + list(args), cwd=self.dir, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=60 * SLOW,
                           env=dict(os.environ, OPENSSL_CONF=self.path("openssl.cnf")))
        if p.returncode != 0:
            raise RuntimeError("openssl %s failed:\n%s" % (" ".join(args), p.stderr.decode(errors="replace")))

    def key_and_request(self, name, subject, *more):
        self.openssl("req", "-config", "openssl.cnf", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-nodes", "-keyout", name + ".key", "-subj", "/CN=" + subject, *more)

    def ca(self, name, subject):
        self.key_and_request(name, subject, "-x509", "-days", "30", "-extensions", "ca_ext",
                             "-out", name + ".pem")
        return Identity(self.path(name + ".pem"), self.path(name + ".key"))

    def signed(self, name, subject, issuer, extensions):
        self.key_and_request(name, subject, "-new", "-out", name + ".csr")
        self.serial += 1
        self.openssl("x509", "-req", "-in", name + ".csr", "-CA", issuer.cert, "-CAkey", issuer.key,
                     "-set_serial", str(self.serial), "-days", "30", "-extfile", "openssl.cnf",
                     "-extensions", extensions, "-out", name + ".pem")
        return Identity(self.path(name + ".pem"), self.path(name + ".key"))

    def expired_client(self, name, subject, issuer):
        self.key_and_request(name, subject, "-new", "-out", name + ".csr")
        with open(self.path("ca-index.txt"), "w"):
            pass
        with open(self.path("ca-serial"), "w") as f:
            f.write("1000\n")
        self.openssl("ca", "-config", "openssl.cnf", "-batch", "-notext", "-cert", issuer.cert,
                     "-keyfile", issuer.key, "-in", name + ".csr", "-out", name + ".pem",
                     "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-extensions", "client_ext")
        return Identity(self.path(name + ".pem"), self.path(name + ".key"))

    def chain(self, leaf, *issuers):
        """The leaf's certificate followed by its issuers', in one file."""
        path = leaf.cert.replace(".pem", "-chain.pem")
        with open(path, "w") as out:
            for part in (leaf,) + issuers:
                with open(part.cert) as f:
                    out.write(f.read())
        return Identity(path, leaf.key)


PKI = Pki()

# ---------------------------------------------------------------- clients


def client_context(identity=None, alpn=None):
    """A client's context: it trusts the test root CA (the server's chain ends there)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(PKI.root.cert)
    if identity:
        ctx.load_cert_chain(identity.cert, identity.key)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def old_protocol_context():
    """A client that speaks TLS 1.1 at most (OpenSSL wants security level 0 for it)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def tls_connect(address, ctx=None, session=None, rcvbuf=None):
    """A TLS client of a tls:// address, its handshake done: a Conn over an SSLSocket."""
    raw = connect(address, rcvbuf=rcvbuf).sock
    try:
        return Conn((ctx or client_context()).wrap_socket(raw, server_hostname="localhost", session=session))
    except BaseException:
        raw.close()
        raise




def client_hello():
    """The bytes of a real ClientHello, as a TLS client sends them first."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


HELLO = client_hello()


class SClient:
    """openssl s_client as a line client, its output read with deadlines. It sends
    close_notify when its input ends (-no_ign_eof), and then exits."""

    def __init__(self, srv, *extra):
        host, port = srv.address.addr[:2]
        target = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
        self.proc = subprocess.Popen(
            [OPENSSL, "s_client", "-connect", target, "-CAfile", PKI.root.cert, "-verify_return_error",
             "-verify_hostname", "localhost", "-quiet", "-no_ign_eof"] + list(extra),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.buf = b""

    def send(self, line):
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()

    def line(self, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            ready = select.select([fd], [], [], max(0, left))[0] if left > 0 else []
            chunk = os.read(fd, 1 << 16) if ready else None
            if not chunk:
                raise AssertionError("s_client: no line within %.1fs (%s); have %r; stderr:\n%s" % (
                    timeout, "end of output" if ready else "timeout", self.buf, self.stderr()))
            self.buf += chunk
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def stderr(self):
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read().decode(errors="replace")

    def close(self, timeout=IO_TIMEOUT):
        """End of input: s_client sends close_notify and exits; its status."""
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("s_client did not exit within %.1fs of its input's end" % timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


class TlsCase(Case):
    """Servers on tls:// with the test's certificates; self.connect() makes TLS clients."""

    def serve(self, cmd, *args, identity=None, url="tls://127.0.0.1:0"):
        identity = identity or PKI.server
        return self.server(cmd, "--listen", url, "--tls-cert", identity.cert, "--tls-key", identity.key, *args)

    def connect(self, srv, **kw):
        c = tls_connect(srv.address if hasattr(srv, "address") else srv, **kw)
        self.addCleanup(c.close)
        return c

    def s_client(self, srv, *extra):
        s = SClient(srv, *extra)
        self.addCleanup(s.kill)
        return s

    def own_files(self, identity, name="live"):
        """Copies of an identity's files in the test's temp dir, for a server to reload."""
        mine = Identity(os.path.join(self.tmp, name + "-cert.pem"), os.path.join(self.tmp, name + "-key.pem"))
        install(identity, mine)
        return mine

    def assertCounters(self, srv, **expected):
        counters = fh.stopped_counters(srv)
        self.assertEqual({k: counters[k] for k in expected}, expected, srv.describe())
        return counters

    def roundtrip(self, srv, text=b"ping"):
        c = self.connect(srv)
        c.send(text + b"\n")
        self.assertEqual(c.recv_line(), text + b"\n")
        close_tls(c)

    def assertRefused(self, srv, ctx=None):
        """A client the server refuses: whatever it sends is never echoed (the handler
        never runs), and the server closes the connection. Returns once the server has
        reported it (one more failure line)."""
        before = len(fh.failure_lines(srv))
        try:
            c = tls_connect(srv.address, ctx=ctx)
        except (ssl.SSLError, ConnectionError):
            pass  # refused in the handshake (TLS 1.2), or...
        else:
            try:  # ...after it, for the client (TLS 1.3: the server checks its certificate later)
                c.sock.sendall(b"never echoed\n")
                c.sock.settimeout(IO_TIMEOUT)
                self.assertEqual(c.sock.recv(100), b"", "a refused client got an answer")
            except (ssl.SSLError, ConnectionError):
                pass
            finally:
                c.sock.close()
        self.wait_failures(srv, before + 1)

    def wait_failures(self, srv, n):
        """Wait until the server has printed n failure lines."""
        self.assertTrue(wait_until(lambda: len(fh.failure_lines(srv)) >= n, GRACE),
                        "expected %d failure lines\n%s" % (n, srv.describe()))


def install(src, dst):
    """Put src's certificate and key in dst's place, each renamed over it whole."""
    for a, b in ((src.cert, dst.cert), (src.key, dst.key)):
        shutil.copyfile(a, b + ".new")
        os.replace(b + ".new", b)


# How the library says that a file holds no PEM certificate or key (OpenSSL's own words
# for some of them: tests/cli/test_tls.py accepts what names the problem, not jargon alone).
NOT_PEM = ("PEM", "no start line")


def assertMentions(case, text, words):
    """Each of words is in text; a tuple of words: one of them is."""
    for w in words:
        if isinstance(w, tuple):
            case.assertTrue(any(x in text for x in w), "none of %s in %r" % (w, text))
        else:
            case.assertIn(w, text)


def reason_lines(srv):
    """The reasons of the failure lines, in order."""
    return [reason for _, reason in fh.failure_lines(srv)]

# ---------------------------------------------------------------- echo


class Echo(TlsCase):
    def test_every_mode_python_and_s_client(self):
        # The same echo as over tcp://, by Python's ssl module and by openssl s_client;
        # the server's certificate verifies through the chain in --tls-cert.
        def case(mode):
            srv = self.serve("echo", "--mode", mode, "--drain", "1")
            self.assertRegex(srv.url, r"^tls://127\.0\.0\.1:[1-9][0-9]*$")
            c = self.connect(srv)
            self.assertIn(c.sock.version(), ("TLSv1.3", "TLSv1.2"))
            for line in (b"hello\n", b"telnet style\r\n", bytes(range(1, 10)) + b"\n", b"x" * 100000 + b"\n", b"\n"):
                c.send(line)
                self.assertEqual(c.recv_line(), line)
            close_tls(c)
            s = self.s_client(srv)
            for text in (b"from s_client", b"and again"):
                s.send(text)
                self.assertEqual(s.line(), text + b"\n")
            self.assertEqual(s.close(), 0, s.stderr())
            srv.stop()
            self.assertCounters(srv, completed=2, errors=0, tls_failed=0)
        self.at_once(MODES, case)

    def test_ipv6(self):
        if not ipv6_available():
            self.skipTest("no IPv6 loopback")
        srv = self.serve("echo", url="tls://[::1]:0")
        self.assertRegex(srv.url, r"^tls://\[::1\]:[1-9][0-9]*$")
        c = self.connect(srv)
        c.send(b"six\n")
        self.assertEqual(c.recv_line(), b"six\n")
        close_tls(c)
        s = self.s_client(srv)
        s.send(b"six again")
        self.assertEqual(s.line(), b"six again\n")
        self.assertEqual(s.close(), 0, s.stderr())
        srv.stop()
        self.assertCounters(srv, completed=2, errors=0)

    def test_10_mib_checked_by_sha256(self):
        # 10 MiB of lines of every length up to 64 KiB, 64 KiB in flight at a time: what
        # comes back hashes the same as what went out.
        def case(mode):
            srv = self.serve("echo", "--mode", mode)
            c = self.connect(srv)
            c.sock.settimeout(IO_TIMEOUT)
            sent, got = hashlib.sha256(), hashlib.sha256()
            total = 0
            seed = hashlib.sha256(mode.encode()).digest()
            while total < 10 << 20:
                chunk = bytearray()
                while len(chunk) < 60000:
                    seed = hashlib.sha256(seed).digest()
                    length = int.from_bytes(seed[:2], "big") % 4000
                    chunk += (seed * (length // 32 + 1))[:length].replace(b"\n", b"n") + b"\n"
                c.sock.sendall(chunk)
                sent.update(chunk)
                left = len(chunk)
                while left:
                    data = c.sock.recv(min(left, 1 << 16))
                    self.assertTrue(data, "the server closed the connection")
                    got.update(data)
                    left -= len(data)
                total += len(chunk)
            self.assertEqual(got.hexdigest(), sent.hexdigest())
            close_tls(c)
            srv.stop()
            self.assertCounters(srv, completed=1, errors=0)
        self.at_once(MODES, case)

    def test_idle_clients_resume(self):
        # Clients idle long enough for the loops to park their requests' stacks (1 to 2 s
        # of waiting: their frames on the heap, the pages given back), then talking again,
        # several at once, in the middle of their TLS sessions: every line comes back.
        def case(mode):
            srv = self.serve("echo", "--mode", mode, "--workers", "2")
            clients = [self.connect(srv) for _ in range(8)]
            for i, c in enumerate(clients):
                c.send(b"before %d\n" % i)
                self.assertEqual(c.recv_line(), b"before %d\n" % i)
            time.sleep(3)
            for i, c in enumerate(clients):
                c.send(b"after %d " % i + b"y" * 20000 + b"\n")
            for i, c in enumerate(clients):
                self.assertEqual(c.recv_line(), b"after %d " % i + b"y" * 20000 + b"\n")
                close_tls(c)
            srv.stop()
            self.assertCounters(srv, completed=8, errors=0)
        self.at_once(["event", "pool"], case)

    def test_alpn(self):
        srv = self.serve("echo", "--tls-alpn", "h2,http/1.1")
        for offered, chosen in ((["http/1.1"], "http/1.1"), (["http/1.1", "h2"], "h2"), (None, None)):
            with self.subTest(offered=offered):
                c = self.connect(srv, ctx=client_context(alpn=offered))
                self.assertEqual(c.sock.selected_alpn_protocol(), chosen)
                c.send(b"alpn\n")
                self.assertEqual(c.recv_line(), b"alpn\n")
                close_tls(c)
        self.assertRefused(srv, client_context(alpn=["spdy/1"]))
        srv.stop()
        self.assertCounters(srv, completed=3, errors=1, tls_failed=1)
        self.assertEqual(len(reason_lines(srv)), 1, srv.describe())
        self.assertIn("no shared ALPN protocol", reason_lines(srv)[0])

# ---------------------------------------------------------------- chat


class Chat(TlsCase, ChatCase):
    def test_every_mode(self):
        # Python members and an s_client member: every line reaches everyone, prefixed
        # with the sender's HOST:PORT (checked by join() against getsockname()).
        def case(mode):
            srv = self.serve("chat", "--mode", mode, "--drain", "0.5")
            if mode == "sync":  # one member at a time
                a = self.join(srv)
                a.say(b"alone")
                self.assertEqual(a.line(), a.prefix + b" alone\n")
                close_tls(a.conn)
                srv.stop()
                self.assertCounters(srv, completed=1, errors=0, tls_failed=0)
                return
            a, b = self.room(srv, 2)
            s = self.s_client(srv)
            s.send(b"from s_client")
            line = a.line()
            self.assertRegex(line, rb"^127\.0\.0\.1:[1-9][0-9]* from s_client\n$")
            self.assertNotIn(line.split(b" ")[0], (a.prefix, b.prefix))
            self.assertEqual(b.line(), line)
            self.assertEqual(s.line(), line)
            for speaker in (a, b):
                speaker.say(b"hi from " + speaker.prefix)
                for listener in (a.line, b.line, s.line):
                    self.assertEqual(listener(), speaker.prefix + b" hi from " + speaker.prefix + b"\n")
            b.say(b"quit")
            self.assertEqual(b.conn.recv_until_closed(), (b"", "eof"))  # the server's close_notify
            self.assertEqual(s.close(), 0, s.stderr())
            a.say(b"last")
            self.assertEqual(a.line(), a.prefix + b" last\n")
            close_tls(a.conn)
            srv.stop()
            self.assertCounters(srv, completed=3, errors=0, tls_failed=0)
        self.at_once(MODES, case)

    def test_ipv6_prefix(self):
        if not ipv6_available():
            self.skipTest("no IPv6 loopback")
        srv = self.serve("chat", url="tls://[::1]:0")
        a = self.join(srv)  # its prefix is "[::1]:PORT", the client's address
        self.assertTrue(a.prefix.startswith(b"[::1]:"), a.prefix)
        srv.stop()

    def test_member_that_never_reads_is_disconnected(self):
        # Its lines pile up past the backlog: it is disconnected (its connection shut
        # down, though its own request was the one writing to it), the others go on.
        def case(mode):
            srv = self.serve("chat", "--mode", mode)
            staller = self.join(srv, rcvbuf=4096)
            talker = self.join(srv)
            pad = b"p" * 4000
            n = 0
            while b"does not read its messages" not in srv.stderr():
                self.assertLess(n, 20000, "the member that never reads was not disconnected\n" + srv.describe())
                talker.say(b"%d %s" % (n, pad))
                self.assertEqual(talker.line(), talker.prefix + b" %d %s\n" % (n, pad))
                n += 1
            self.assertIn(staller.prefix.decode(), srv.stderr().decode())
            staller.conn.sock.settimeout(IO_TIMEOUT)
            with self.assertRaises((OSError, EOFError, AssertionError)):
                while True:  # what reached it, then the end (no close_notify: it was cut off)
                    staller.conn.recv_line()
            talker.say(b"still here")
            self.assertEqual(talker.line(), talker.prefix + b" still here\n")
            close_tls(talker.conn)
            srv.stop()
        self.at_once(["threading", "forking", "event"], case)

# ---------------------------------------------------------------- mutual TLS


class MutualTls(TlsCase):
    def test_client_certificates(self):
        # Accepted: a certificate from the clients' CA. Refused, each with its reason on
        # stderr and never reaching echo: none, one from another CA, an expired one.
        refusals = [(None, "client sent no certificate"),
                    (PKI.stranger, "client certificate not trusted"),
                    (PKI.expired, "certificate has expired")]

        def case(mode):
            srv = self.serve("echo", "--mode", mode, "--tls-client-ca", PKI.clients_ca.cert)
            c = self.connect(srv, ctx=client_context(PKI.client))
            c.send(b"with a certificate\n")
            self.assertEqual(c.recv_line(), b"with a certificate\n")
            close_tls(c)
            baseline = srv.fd_count()
            for identity, _ in refusals:
                self.assertRefused(srv, client_context(identity))
            s = self.s_client(srv, "-cert", PKI.client.cert, "-key", PKI.client.key)
            s.send(b"s_client with a certificate")
            self.assertEqual(s.line(), b"s_client with a certificate\n")
            self.assertEqual(s.close(), 0, s.stderr())
            self.assertFdsSettle(srv, baseline)
            srv.stop()
            self.assertCounters(srv, accepted=5, completed=2, errors=3, tls_failed=3)
            reasons = reason_lines(srv)
            self.assertEqual(len(reasons), len(refusals), srv.describe())
            for reason, (_, why) in zip(reasons, refusals):
                self.assertIn(why, reason)
        self.at_once(MODES, case)

# ---------------------------------------------------------------- failed handshakes


class FailedHandshakes(TlsCase):
    def bad_clients(self, srv, limit):
        """Every kind of client that fails or cuts short its handshake, one after the
        other (under sync each holds the server until it is done); returns the words
        each failure line must hold, in order."""
        expect = []

        def reported(words):
            expect.append(words)
            self.wait_failures(srv, len(expect))
        # Connects and sends nothing; sends half a ClientHello: cut off at the limit.
        for first in (b"", HELLO[:len(HELLO) // 2]):
            c = connect(srv.address)
            c.send(first)
            c.recv_until_closed(timeout=limit + GRACE)
            c.close()
            reported("not done within %g s" % limit)
        # Plaintext on the TLS port: HTTP, and a line of text.
        for text in (b"GET / HTTP/1.0\r\n\r\n", b"hello\n"):
            c = connect(srv.address)
            c.send(text)
            c.recv_until_closed()
            c.close()
            reported("plaintext")
        # A TLS 1.1 client: the server takes TLS 1.2 and 1.3 only.
        self.assertRefused(srv, old_protocol_context())
        expect.append("no shared protocol version")
        # Half a ClientHello, then a reset; then an end of input.
        c = connect(srv.address)
        c.send(HELLO[:len(HELLO) // 2])
        c.reset()
        reported("reset")
        c = connect(srv.address)
        c.send(HELLO[:len(HELLO) // 2])
        c.close()
        reported("closed the connection")
        # A whole handshake and a line, then a close without close_notify: a truncation
        # (the handler ran: an error, but no failed handshake).
        c = self.connect(srv)
        c.send(b"then gone\n")
        self.assertEqual(c.recv_line(), b"then gone\n")
        c.close()
        reported("without close_notify (truncated)")
        return expect

    def test_bad_clients_every_mode(self):
        # Each failure: one line naming the client and the reason in words; the server
        # serves on, counts them (tls failed: the 7 handshakes) and leaks no descriptor.
        # Also with the default limit (10 s, no --timeout), for a client that sends nothing.
        def case(mode):
            if mode == "default limit":
                srv = self.serve("echo")
                c = connect(srv.address)
                t0 = time.monotonic()
                c.recv_until_closed(timeout=10 + 3 * GRACE)
                self.assertGreater(time.monotonic() - t0, 5, "cut off long before the default 10 s")
                c.close()
                self.roundtrip(srv, b"after the default limit")
                srv.stop()
                self.assertEqual(len(reason_lines(srv)), 1, srv.describe())
                self.assertIn("TLS handshake: not done within 10 s", reason_lines(srv)[0])
                self.assertCounters(srv, errors=1, tls_failed=1)
                return
            srv = self.serve("echo", "--mode", mode, "--timeout", "1", "--drain", "1")
            self.roundtrip(srv, b"before")
            baseline = srv.fd_count()
            expect = self.bad_clients(srv, 1)
            self.roundtrip(srv, b"after")
            self.assertFdsSettle(srv, baseline)
            srv.stop()
            reasons = reason_lines(srv)
            self.assertEqual(len(reasons), len(expect), srv.describe())
            for reason, words in zip(reasons, expect):
                self.assertIn(words, reason, srv.describe())
            self.assertFalse(re.search(rb"error:[0-9A-F]{8}", srv.stderr()), "OpenSSL's error queue shown")
            self.assertCounters(srv, completed=3, errors=len(expect), tls_failed=len(expect) - 1)
        self.at_once(list(MODES) + ["default limit"], case)

# ---------------------------------------------------------------- reload


def reloads(srv):
    return srv.stderr().count(b"sockserv: SIGHUP: reloaded")


def sighup_lines(srv):
    return re.findall(rb"^sockserv: SIGHUP: .*$", srv.stderr(), re.M)


class Reload(TlsCase):
    def test_reload_under_load(self):
        # Clients connect, echo and close in a loop while SIGHUPs swap the certificate:
        # none fails, and a connection made after each reload gets the new one.
        def case(mode):
            live = self.own_files(PKI.server, "live-" + mode)
            srv = self.serve("echo", "--mode", mode, identity=live)
            stop = threading.Event()
            failures, served = [], []

            def clients():
                n = 0
                while not stop.is_set():
                    try:
                        c = tls_connect(srv.address)
                        c.send(b"%d\n" % n)
                        if c.recv_line() != b"%d\n" % n:
                            failures.append("wrong echo")
                        close_tls(c)
                    except Exception as e:  # every failure is reported below
                        failures.append(repr(e))
                    n += 1
                served.append(n)
            joins = [in_thread(clients) for _ in range(3)]
            for i, identity in enumerate((PKI.server2, PKI.server, PKI.server2, PKI.server), 1):
                install(identity, live)
                os.kill(srv.pid, signal.SIGHUP)
                self.assertTrue(wait_until(lambda: reloads(srv) == i, GRACE), srv.describe())
                c = self.connect(srv)
                self.assertEqual(c.sock.getpeercert(binary_form=True), identity.der(), "reload %d" % i)
                close_tls(c)
            stop.set()
            for join in joins:
                join(3 * GRACE)
            self.assertEqual(failures, [])
            self.assertGreater(sum(served), 0)
            self.assertEqual(len(sighup_lines(srv)), 4, srv.describe())
            srv.stop()
            self.assertCounters(srv, errors=0, tls_failed=0)
        self.at_once(["threading", "forking", "event"], case)

    def test_broken_files_change_nothing(self):
        # Each SIGHUP with a file that cannot be used: one line naming the option, the
        # file and the problem; new connections still get the previous certificate.
        live = self.own_files(PKI.server)
        ca = os.path.join(self.tmp, "clients-ca.pem")
        shutil.copyfile(PKI.clients_ca.cert, ca)
        srv = self.serve("echo", "--tls-client-ca", ca, identity=live)
        client = client_context(PKI.client)
        before = PKI.server.der()

        def not_pem(path):
            shutil.copyfile(PKI.not_pem, path)

        breakages = [
            ("--tls-cert", live.cert, not_pem, NOT_PEM),
            ("--tls-cert", live.cert, os.remove, "No such file or directory"),
            ("--tls-key", live.key, lambda p: shutil.copyfile(PKI.server2.key, p), "does not match"),
            ("--tls-key", live.key, lambda p: shutil.copyfile(PKI.encrypted_key, p), "encrypted"),
            ("--tls-client-ca", ca, not_pem, NOT_PEM),
        ]
        for i, (option, path, breakage, words) in enumerate(breakages, 1):
            with self.subTest(option=option, problem=str(words)):
                keep = path + ".good"
                shutil.copyfile(path, keep)
                breakage(path)
                os.kill(srv.pid, signal.SIGHUP)
                self.assertTrue(wait_until(lambda: len(sighup_lines(srv)) == i, GRACE), srv.describe())
                line = sighup_lines(srv)[-1].decode()
                self.assertIn("reload failed", line)
                self.assertIn("%s: '%s'" % (option, path) if words != "No such file or directory"
                              else "%s: cannot read '%s'" % (option, path), line)
                assertMentions(self, line, [words])
                os.replace(keep, path)
                c = self.connect(srv, ctx=client)
                self.assertEqual(c.sock.getpeercert(binary_form=True), before)
                c.send(b"still served\n")
                self.assertEqual(c.recv_line(), b"still served\n")
                close_tls(c)
        self.assertFalse(re.search(rb"error:[0-9A-F]{8}", srv.stderr()), "OpenSSL's error queue shown")
        # Then a good one: reloaded, new connections get it.
        install(PKI.server2, live)
        os.kill(srv.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: reloads(srv) == 1, GRACE), srv.describe())
        c = self.connect(srv, ctx=client)
        self.assertEqual(c.sock.getpeercert(binary_form=True), PKI.server2.der())
        close_tls(c)
        srv.stop()
        self.assertCounters(srv, errors=0)

    def test_client_ca_reloaded(self):
        # The clients' CA is read again too: after the swap, the other CA's clients are
        # served and the first CA's refused.
        ca = os.path.join(self.tmp, "clients-ca.pem")
        shutil.copyfile(PKI.clients_ca.cert, ca)
        srv = self.serve("echo", "--tls-client-ca", ca)
        c = self.connect(srv, ctx=client_context(PKI.client))
        c.send(b"trusted\n")
        self.assertEqual(c.recv_line(), b"trusted\n")
        close_tls(c)
        shutil.copyfile(PKI.other_ca.cert, ca + ".new")
        os.replace(ca + ".new", ca)
        os.kill(srv.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: reloads(srv) == 1, GRACE), srv.describe())
        self.assertIn(b"--tls-client-ca '%s'" % ca.encode(), sighup_lines(srv)[0])
        c = self.connect(srv, ctx=client_context(PKI.stranger))
        c.send(b"newly trusted\n")
        self.assertEqual(c.recv_line(), b"newly trusted\n")
        close_tls(c)
        self.assertRefused(srv, client_context(PKI.client))
        srv.stop()
        self.assertCounters(srv, completed=2, tls_failed=1)

# ---------------------------------------------------------------- resumption


class Resumption(TlsCase):
    def test_sessions_resume(self):
        # A session from one connection resumes on the next ones, whichever thread,
        # loop or process takes them, and across a reload.
        def case(mode):
            srv = self.serve("echo", "--mode", *mode.split())
            ctx = client_context()
            first = self.connect(srv, ctx=ctx)
            first.send(b"first\n")
            self.assertEqual(first.recv_line(), b"first\n")  # the session ticket came before it
            self.assertFalse(first.sock.session_reused)
            session = first.sock.session
            close_tls(first)
            for i in range(8):
                if i == 4:
                    os.kill(srv.pid, signal.SIGHUP)
                    self.assertTrue(wait_until(lambda: reloads(srv) == 1, GRACE), srv.describe())
                c = self.connect(srv, ctx=ctx, session=session)
                self.assertTrue(c.sock.session_reused, "connection %d did not resume" % i)
                c.send(b"again\n")
                self.assertEqual(c.recv_line(), b"again\n")
                close_tls(c)
            srv.stop()
            self.assertCounters(srv, completed=9, errors=0)
        self.at_once(["threading", "event --workers 2", "forking"], case)

# ---------------------------------------------------------------- errors


class Errors(TlsCase):
    def assertOneLine(self, args, code, words):
        got, out, err = run(args)
        self.assertEqual(got, code, "sockserv %s: exit %s\n%s" % (args, got, err))
        self.assertNotIn("listening on", out)
        lines = err.splitlines()
        if code == 2:
            self.assertEqual(lines[1:], ["Try 'sockserv --help'."], err)
        else:
            self.assertEqual(len(lines), 1, "more than one line:\n" + err)
        assertMentions(self, lines[0], words)
        self.assertNotRegex(err, r"error:[0-9A-F]{8}", "OpenSSL's error queue shown")
        return lines[0]

    def test_usage_errors_exit_2(self):
        cert, key = PKI.server.cert, PKI.server.key
        tls = ["--listen", "tls://127.0.0.1:0"]
        for args, words in [
            (["echo"] + tls, ["--tls-cert", "--tls-key"]),
            (["echo"] + tls + ["--tls-cert", cert], ["needs --tls-key"]),
            (["chat"] + tls + ["--tls-key", key], ["needs --tls-cert"]),
            (["echo", "--tls-cert", cert, "--tls-key", key], ["--tls-cert", "tls://", "tcp://127.0.0.1:9999"]),
            (["echo", "--listen", "unix:@x", "--tls-key", key], ["--tls-key", "unix:@x"]),
            (["echo", "--listen", "tcp://127.0.0.1:0", "--tls-client-ca", cert], ["--tls-client-ca"]),
            (["echo", "--listen", "udp://127.0.0.1:0", "--tls-alpn", "h2"], ["--tls-alpn"]),
            (["echo"] + tls + ["--tls-cert", cert, "--tls-key", key, "--tls-alpn", ""], ["--tls-alpn"]),
            (["echo"] + tls + ["--tls-cert", cert, "--tls-key", key, "--tls-alpn", "h2,,x"], ["--tls-alpn"]),
            (["echo"] + tls + ["--tls-cert", cert, "--tls-key", key, "--tls-alpn", "x" * 256], ["--tls-alpn"]),
            (["echo", "--listen", "tls://127.0.0.1", "--tls-cert", cert, "--tls-key", key], ["port"]),
        ]:
            with self.subTest(args=args):
                self.assertOneLine(args, 2, words)

    def test_file_errors_exit_1(self):
        # The library cannot use a file: one line naming the option, the file and the problem.
        cert, key = PKI.server.cert, PKI.server.key
        missing = os.path.join(self.tmp, "missing.pem")
        cases = [
            (missing, key, None, ["--tls-cert", "cannot read '%s'" % missing, "No such file"]),
            (cert, missing, None, ["--tls-key", "cannot read '%s'" % missing, "No such file"]),
            (PKI.not_pem, key, None, ["--tls-cert", PKI.not_pem, NOT_PEM]),
            (cert, PKI.not_pem, None, ["--tls-key", PKI.not_pem]),
            (cert, PKI.server2.key, None, ["--tls-key", PKI.server2.key, "does not match", cert]),
            (cert, PKI.encrypted_key, None, ["--tls-key", PKI.encrypted_key, "encrypted"]),
            (cert, key, PKI.not_pem, ["--tls-client-ca", PKI.not_pem, NOT_PEM]),
            (cert, key, missing, ["--tls-client-ca", missing, "No such file"]),
        ]
        for c, k, ca, words in cases:
            args = ["echo", "--listen", "tls://127.0.0.1:0", "--tls-cert", c, "--tls-key", k]
            if ca:
                args += ["--tls-client-ca", ca]
            with self.subTest(cert=c, key=k, ca=ca):
                self.assertOneLine(args, 1, words)

    def test_unreadable_file_exits_1(self):
        if os.geteuid() == 0:
            self.skipTest("running as root, who reads any file: an unreadable one cannot be made")
        unreadable = os.path.join(self.tmp, "unreadable.pem")
        shutil.copyfile(PKI.server.cert, unreadable)
        os.chmod(unreadable, 0)
        self.assertOneLine(["echo", "--listen", "tls://127.0.0.1:0", "--tls-cert", unreadable,
                            "--tls-key", PKI.server.key], 1, ["--tls-cert", unreadable, "Permission denied"])

    def test_help_example(self):
        # The example of --help, run as it is written (on a free port): its openssl req
        # command makes a certificate that its Python and s_client clients verify.
        code, text, _ = run(["--help"])
        self.assertEqual(code, 0)
        commands = re.findall(r"^    ((?:openssl|sockserv|python3) .*(?:\n      .*)*)$", text, re.M)
        starts = [c.split()[0] + " " + c.split()[1] for c in commands]
        self.assertEqual(starts, ["openssl req", "sockserv echo", "openssl s_client", "python3 -c"], text)
        req, server, s_client, python = commands
        p = subprocess.run(["sh", "-c", req], cwd=self.tmp, capture_output=True, timeout=60 * SLOW)
        self.assertEqual(p.returncode, 0, p.stderr)
        args = shlex.split(server.replace("\\\n", " ").rstrip(" &"))[1:]
        self.assertEqual(args[:2], ["echo", "--listen"])
        args = [a.replace(":9443", ":0") if a.startswith("tls://")
                else os.path.join(self.tmp, a) if a.endswith(".pem") else a for a in args]
        srv = self.server(*args)
        port = str(srv.address.addr[1])
        p = subprocess.run(["sh", "-c", python.replace("9443", port)], cwd=self.tmp, capture_output=True,
                           timeout=60 * SLOW)
        self.assertEqual((p.returncode, p.stdout), (0, b"b'hello\\n'\n"), p.stderr)
        s = subprocess.Popen(["sh", "-c", "exec " + s_client.split("(")[0].replace("9443", port)], cwd=self.tmp,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            s.stdin.write(b"typed\n")
            s.stdin.flush()
            self.assertTrue(select.select([s.stdout], [], [], IO_TIMEOUT)[0], "no echo for s_client")
            self.assertEqual(s.stdout.readline(), b"typed\n")
        finally:
            s.kill()
            s.wait(5)
            s.stdin.close()
            s.stdout.close()
        srv.stop()

if __name__ == "__main__":
    unittest.main(verbosity=2)
