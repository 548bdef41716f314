"""test_metrics.py: `--metrics URL`: HTTP GET /metrics answers the counters in Prometheus's text format 0.0.4 (parsed here line by line, and by `promtool check metrics` when installed); the counters match the traffic exactly in every --mode (bytes and the duration histogram too, when the library counts them); 404/405/400/431/505 answers that never echo the request; an oversized request, a slowloris on the metrics port and a crowd of idle ones neither block a scrape for long nor touch the served protocol; with --processes the supervisor sums the workers and its counters never go backwards across a SIGHUP reload or a `kill -9` of a worker; the metrics port is held by no forked process and freed at exit; its address (port 0 resolved) announced once on stderr, by the supervisor with --processes, as a JSON object with --log-format json, not with --quiet; a port in use exits 1, a bad URL exits 2; docs/DEPLOYMENT.md's Prometheus scrape configuration passes `promtool check config` and its scrape is answered."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sockserv_harness import (MODES, SLOW, Case, connect, deployment_block, ipv6_available,  # noqa: E402
                              live_children, port_is_free, require, run, wait_until)
from test_processes import serving_worker, socket_inodes, workers  # noqa: E402

TCP = "tcp://127.0.0.1:0"
GRACE = 10.0 * SLOW
READ_LIMIT = 5.0          # METRICS_READ_LIMIT (metrics.h): a request's head must come within it
MAX_CONNECTIONS = 16      # METRICS_MAX_CONNECTIONS
HEAD_MAX = 8192           # METRICS_HEAD_MAX
PROMTOOL_HINT = "apt-get install prometheus"
EXPOSITION_TYPE = "text/plain; version=0.0.4; charset=utf-8"

COUNTERS = ("sockserv_requests_accepted_total", "sockserv_requests_refused_total",
            "sockserv_requests_completed_total", "sockserv_requests_cancelled_total",
            "sockserv_request_errors_total", "sockserv_accept_errors_total",
            "sockserv_dropped_replies_total", "sockserv_tls_handshake_failures_total")
DETAILED = ("sockserv_received_bytes_total", "sockserv_sent_bytes_total")
GAUGES = ("sockserv_requests_active", "sockserv_threads", "sockserv_child_processes")
HISTOGRAM = "sockserv_request_duration_seconds"

# ---------------------------------------------------------------- the exposition

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"(%s)(?:\{((?:%s)(?:,%s)*)?\})? (\S+)" % (NAME, LABEL, LABEL))
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def parse_value(text):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", text):
        raise AssertionError("not a sample value: %r" % text)
    return float(text)


def parse_labels(text):
    out = {}
    for m in re.finditer(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"', text or ""):
        out[m.group(1)] = m.group(2).replace(r"\n", "\n").replace(r"\"", '"').replace("\\\\", "\\")
    return out


class Exposition:
    """The text format 0.0.4, checked as it is read: every line a HELP, a TYPE or a
    well-formed sample of a family whose HELP and TYPE came first, each family in one
    block; the histograms' buckets cumulative and ending with +Inf equal to _count."""

    def __init__(self, text):
        if not text.endswith("\n"):
            raise AssertionError("the exposition does not end with a newline")
        self.types, self.helps, self.samples = {}, {}, []
        done, current = set(), None
        for n, line in enumerate(text.split("\n")[:-1], 1):
            where = "line %d %r" % (n, line)
            if not line:
                raise AssertionError("%s: an empty line" % where)
            m = re.fullmatch(r"# (HELP|TYPE) (%s) (.+)" % NAME, line)
            if m:
                kind, name, rest = m.groups()
                if name != current:
                    if name in done:
                        raise AssertionError("%s: family %s comes again" % (where, name))
                    if current:
                        done.add(current)
                    current = name
                table = self.helps if kind == "HELP" else self.types
                if name in table:
                    raise AssertionError("%s: a second %s" % (where, kind))
                if kind == "TYPE" and rest not in TYPES:
                    raise AssertionError("%s: unknown type" % where)
                table[name] = rest
                continue
            if line.startswith("#"):
                raise AssertionError("%s: a comment this program never writes" % where)
            m = SAMPLE.fullmatch(line)
            if not m:
                raise AssertionError("%s: not a sample line" % where)
            name, labels, value = m.group(1), parse_labels(m.group(2)), parse_value(m.group(3))
            family = name
            if self.types.get(current) == "histogram" and name in (current + "_bucket", current + "_sum",
                                                                     current + "_count"):
                family = current
            if family != current:
                raise AssertionError("%s: a sample outside its family's block (%s)" % (where, current))
            if family not in self.helps or family not in self.types:
                raise AssertionError("%s: no HELP and TYPE before it" % where)
            self.samples.append((name, labels, value))
        for family, kind in self.types.items():
            if kind == "histogram":
                self.check_histogram(family)
            elif kind == "counter" and not family.endswith("_total"):
                raise AssertionError("counter %s does not end in _total" % family)

    def check_histogram(self, family):
        buckets = [(labels["le"], v) for name, labels, v in self.samples if name == family + "_bucket"]
        if not buckets or buckets[-1][0] != "+Inf":
            raise AssertionError("%s: the last bucket is not +Inf: %s" % (family, buckets[-3:]))
        bounds = [parse_value(le) for le, _ in buckets]
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise AssertionError("%s: bucket bounds not increasing" % family)
        counts = [v for _, v in buckets]
        if counts != sorted(counts):
            raise AssertionError("%s: buckets not cumulative: %s" % (family, counts))
        if self.value(family + "_count") != counts[-1]:
            raise AssertionError("%s: _count %s, +Inf bucket %s" % (family, self.value(family + "_count"),
                                                                   counts[-1]))
        if self.value(family + "_sum") is None:
            raise AssertionError("%s: no _sum" % family)

    def value(self, name, **labels):
        for n, ls, v in self.samples:
            if n == name and all(ls.get(k) == w for k, w in labels.items()):
                return v
        return None

    def has(self, name):
        return any(n == name for n, _, _ in self.samples)

    def buckets(self, family=HISTOGRAM):
        return [(labels["le"], v) for name, labels, v in self.samples if name == family + "_bucket"]

    def monotonic_values(self):
        """Every value that must never drop: the counters, the histogram's samples."""
        out = {}
        for name, labels, v in self.samples:
            family = name if name in self.types else re.sub(r"_(bucket|sum|count)$", "", name)
            if self.types.get(family) in ("counter", "histogram"):
                out[(name, labels.get("le"))] = v
        return out

# ---------------------------------------------------------------- HTTP


ANNOUNCED = re.compile(r"metrics on http://(\S+):(\d+)/metrics")


def announcements(srv):
    """The metrics addresses announced on stderr so far, as text lines ("sockserv: metrics on
    http://HOST:PORT/metrics") or JSON objects (event "metrics"): [(host, port)]."""
    out = []
    for line in srv.stderr().decode(errors="replace").splitlines():
        if line.startswith("{"):
            obj = json.loads(line)
            if obj.get("event") != "metrics":
                continue
            assert obj["level"] == "notice", obj
            msg = obj["msg"]
        elif line.startswith("sockserv: metrics on "):
            msg = line[len("sockserv: "):]
        else:
            continue
        m = ANNOUNCED.fullmatch(msg)
        assert m, "not 'metrics on http://HOST:PORT/metrics': %r" % line
        out.append((m.group(1), int(m.group(2))))
    return out


def metrics_port(srv):
    """The port the program announced for --metrics (it was given port 0): waits for the
    line, checks that it came once."""
    if not wait_until(lambda: announcements(srv), GRACE):
        raise AssertionError("no 'metrics on' line on stderr\n%s" % srv.describe())
    said = announcements(srv)
    assert len(said) == 1, "announced %d times: %s" % (len(said), said)
    return said[0][1]


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exchange(port, request, timeout=GRACE, half_close=False):
    """Send the raw request (then the end of input if half_close), read until the server
    closes: (status, headers, body, raw). A reset after a complete answer counts as the end."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        if request:
            s.sendall(request)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        data = b""
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise AssertionError("no end of the answer within %.1fs; got %r" % (timeout, data[:300]))
            if not chunk:
                break
            data += chunk
    if not data:
        return None, {}, b"", data
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("ascii").split("\r\n")
    m = re.fullmatch(r"HTTP/1\.1 (\d{3}) [A-Za-z ]+", lines[0])
    if not m:
        raise AssertionError("not a status line: %r" % lines[0])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(": ")
        headers[k.lower()] = v
    return int(m.group(1)), headers, body, data


def get(port, path="/metrics", method="GET", version="HTTP/1.1", extra=b""):
    req = b"%s %s %s\r\nHost: 127.0.0.1:%d\r\nUser-Agent: test_metrics\r\n%s\r\n" % (
        method.encode(), path.encode(), version.encode(), port, extra)
    return exchange(port, req)


def scrape(port):
    status, headers, body, _ = get(port)
    assert status == 200, "scrape: status %s, %r" % (status, body[:300])
    assert headers.get("content-type") == EXPOSITION_TYPE, headers
    assert int(headers["content-length"]) == len(body), (headers, len(body))
    return Exposition(body.decode("utf-8"))


def detailed(e):
    """Whether the library counts bytes and durations (SS_STATS=ON): then both are shown,
    else neither."""
    shown = [e.has(n) for n in DETAILED] + [e.has(HISTOGRAM + "_count")]
    assert all(shown) or not any(shown), "bytes and histogram shown in part: %s" % shown
    return all(shown)


def other_lines(srv):
    """The lines on stderr but the metrics address and the stop line: a metrics client's
    failure is nobody's news."""
    return [line for line in srv.stderr().decode(errors="replace").splitlines()
            if not line.startswith(("sockserv: stopped: ", "sockserv: metrics on "))]


def program_version():
    code, out, _ = run(["--version"])
    assert code == 0
    return out.split()[-1]


class MetricsCase(Case):
    def metrics_server(self, *args, processes=None):
        """The program with --metrics on port 0, ready: (server, the port it announced)."""
        argv = list(args) + ["--metrics", TCP]
        if processes:
            argv += ["--processes", str(processes)]
        srv = self.server(*argv)
        return srv, metrics_port(srv)

    def echo_clients(self, srv, lines):
        """One client per line: send it, read it back, close. The bytes each way."""
        total = 0
        for line in lines:
            with connect(srv.address) as c:
                c.send(line)
                self.assertEqual(c.recv_line(), line)
            total += len(line)
        return total

    def settled(self, port, pred, what):
        """Scrape until pred(exposition) (a request's counters come at its end)."""
        box = {}

        def ok():
            box["e"] = scrape(port)
            return pred(box["e"])
        if not wait_until(ok, GRACE, step=0.05):
            self.fail("%s: never; last scrape:\n%s" % (what, "\n".join(
                "%s %s %s" % s for s in box["e"].samples if not s[0].endswith("_bucket"))))
        return box["e"]

# ---------------------------------------------------------------- the format


class Format(MetricsCase):
    def test_exposition_well_formed(self):
        srv, port = self.metrics_server("echo", "--listen", TCP, "--mode", "event")
        e = scrape(port)
        self.assertEqual(e.value("sockserv_info", version=program_version(), mode="event"), 1.0)
        self.assertEqual(e.types["sockserv_info"], "gauge")
        for name in COUNTERS:
            self.assertEqual(e.types.get(name), "counter", name)
            self.assertEqual(e.value(name), 0.0, name)
        for name in GAUGES:
            self.assertEqual(e.types.get(name), "gauge", name)
        if detailed(e):
            for name in DETAILED:
                self.assertEqual(e.types.get(name), "counter", name)
            self.assertEqual(e.types[HISTOGRAM], "histogram")
            les = [le for le, _ in e.buckets()]
            self.assertEqual(len(les), 32)
            self.assertEqual(les[:3], ["1e-06", "2e-06", "4e-06"])
            self.assertEqual(les[-2:], ["1073.741824", "+Inf"])
            for i, le in enumerate(les[:-1]):
                self.assertEqual(float(le), (1 << i) * 1e-6, le)
        else:
            print("\n  the library counts no bytes nor durations (SS_STATS=OFF): left out, as they must be",
                  file=sys.stderr)
        # HEAD: the same headers, no body; a query string changes nothing.
        status, headers, body, _ = get(port, method="HEAD")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(headers["content-type"], EXPOSITION_TYPE)
        _, get_headers, get_body, _ = get(port, "/metrics?x=1&name[]=%00")
        self.assertEqual(int(headers["content-length"]), len(get_body))
        self.assertEqual(get_headers["connection"], "close")
        # HTTP/1.0 (no Host needed), the absolute form of a target.
        self.assertEqual(exchange(port, b"GET /metrics HTTP/1.0\r\n\r\n")[0], 200)
        self.assertEqual(get(port, "http://127.0.0.1:%d/metrics" % port)[0], 200)
        # Bare LF line ends (lenient, as most servers are).
        self.assertEqual(exchange(port, b"GET /metrics HTTP/1.1\nHost: x\n\n")[0], 200)
        srv.stop()

    def test_promtool_accepts_it(self):
        promtool = shutil.which("promtool")
        require(promtool, "promtool is not installed: it checks the exposition as Prometheus reads it",
                PROMTOOL_HINT)
        srv, port = self.metrics_server("echo", "--listen", TCP, "--mode", "threading")
        self.echo_clients(srv, [b"one\n", b"two two\n"])
        self.settled(port, lambda e: e.value("sockserv_requests_completed_total") == 2, "2 completed")
        _, _, body, _ = get(port)
        p = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60 * SLOW)
        self.assertEqual(p.returncode, 0, "promtool check metrics:\n%s%s\n--- the exposition:\n%s"
                         % (p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"),
                            body.decode(errors="replace")))
        self.assertEqual(p.stdout.strip() + p.stderr.strip(), b"", "promtool's lint has remarks")
        srv.stop()

    def test_deployment_scrape_config(self):
        # docs/DEPLOYMENT.md's scrape configuration, pointed at a real sockserv: promtool
        # accepts it, and the target it names answers a scrape as Prometheus makes it.
        promtool = shutil.which("promtool")
        require(promtool, "promtool is not installed: it checks docs/DEPLOYMENT.md's Prometheus configuration",
                PROMTOOL_HINT)
        block = deployment_block("prometheus")
        m = re.search(r'targets: \["([\d.]+):(\d+)"\]', block)
        self.assertTrue(m, block)
        srv, port = self.metrics_server("echo", "--listen", TCP)
        conf = os.path.join(self.tmp, "prometheus.yml")
        with open(conf, "w") as f:
            f.write(block.replace(m.group(0), 'targets: ["%s:%d"]' % (m.group(1), port)))
        p = subprocess.run([promtool, "check", "config", conf], capture_output=True, timeout=60 * SLOW)
        self.assertEqual(p.returncode, 0, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace"))
        path = re.search(r"metrics_path: (\S+)", block).group(1)
        req = (b"GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: Prometheus/2.42.0\r\n"
               b"Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
               b"version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n"
               b"Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 5\r\n\r\n"
               % (path.encode(), m.group(1).encode(), port))
        status, headers, body, _ = exchange(port, req)
        self.assertEqual((status, headers["content-type"]), (200, EXPOSITION_TYPE))
        Exposition(body.decode())
        srv.stop()

# ---------------------------------------------------------------- the counts


class Counts(MetricsCase):
    def test_traffic_counted_exactly_in_every_mode(self):
        # Three echo clients: accepted 3, completed 3, the bytes each way exactly what the
        # clients sent (echo: as much back), 3 durations in the histogram; the scrapes
        # themselves are in no counter (a separate server); nothing else moves.
        lines = [b"first line\n", b"second, longer line " + b"x" * 300 + b"\n", b"3\n"]

        def case(mode):
            srv, port = self.metrics_server("echo", "--listen", TCP, "--mode", mode, "--workers", "2")
            self.assertEqual(scrape(port).value("sockserv_info", mode=mode), 1.0)
            sent = self.echo_clients(srv, lines)
            e = self.settled(port, lambda e: e.value("sockserv_requests_completed_total") == 3
                             and e.value("sockserv_requests_active") == 0
                             and e.value("sockserv_child_processes") == 0
                             and (not detailed(e) or e.value(HISTOGRAM + "_count") == 3), "3 completed")
            for _ in range(3):
                e = scrape(port)
            self.assertEqual(e.value("sockserv_requests_accepted_total"), 3)
            for name in COUNTERS[1:]:
                if name != "sockserv_requests_completed_total":
                    self.assertEqual(e.value(name), 0, name)
            self.assertEqual(e.value("sockserv_child_processes"), 0)
            if detailed(e):
                self.assertEqual(e.value("sockserv_received_bytes_total"), sent)
                self.assertEqual(e.value("sockserv_sent_bytes_total"), sent)
                self.assertEqual(e.value(HISTOGRAM + "_count"), 3)
                self.assertGreater(e.value(HISTOGRAM + "_sum"), 0)
                self.assertLess(e.value(HISTOGRAM + "_sum"), 3 * GRACE)
            # A client held open: the gauges show it (and its mode's thread or process).
            with connect(srv.address) as c:
                c.send(b"held\n")
                c.recv_line()
                e = self.settled(port, lambda e: e.value("sockserv_requests_active") == 1, "1 active")
                if mode == "forking":
                    self.assertEqual(e.value("sockserv_child_processes"), 1)
                elif mode == "threading":
                    self.assertEqual(e.value("sockserv_threads"), 1)
            srv.stop()
        self.at_once(MODES, case)

    def test_metrics_port_held_by_no_forked_process(self):
        # Forking mode: a request process holds its connection, not the metrics listener
        # (nor the supervisor's, in a worker); after the exit the port is free at once.
        srv, port = self.metrics_server("echo", "--listen", TCP, "--mode", "forking")
        metrics_inode = listening_inode(port)
        self.assertIn(metrics_inode, socket_inodes(srv.pid))
        with connect(srv.address) as c:
            c.send(b"x\n")
            c.recv_line()
            kids = wait_until(lambda: live_children(srv.pid), GRACE)
            self.assertTrue(kids, "no request process")
            for k in kids:
                self.assertNotIn(metrics_inode, socket_inodes(k), "request process %d holds it" % k)
            self.assertEqual(scrape(port).value("sockserv_child_processes"), 1)
        srv.stop()
        self.assertTrue(port_is_free(port), "the metrics port is still taken")

        srv, port = self.metrics_server("echo", "--listen", TCP, "--mode", "forking", processes=2)
        metrics_inode = listening_inode(port)
        self.assertIn(metrics_inode, socket_inodes(srv.pid))
        for w in workers(srv):
            self.assertNotIn(metrics_inode, socket_inodes(w), "worker %d holds it" % w)
        srv.stop()
        self.assertTrue(port_is_free(port), "the metrics port is still taken")


def listening_inode(port):
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":
                return int(fields[9])
    raise AssertionError("nothing listens on port %d" % port)

def listening_ports(pid):
    """The ports of the TCP (IPv4) sockets process pid listens on."""
    inodes = socket_inodes(pid)
    ports = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] == "0A" and int(fields[9]) in inodes:
                ports.add(int(fields[1].split(":")[1], 16))
    return ports

# ---------------------------------------------------------------- HTTP answers


class Http(MetricsCase):
    def test_answers_to_other_requests(self):
        srv, port = self.metrics_server("echo", "--listen", TCP)
        marker = "M4rK3r"
        cases = [
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 404),
            (b"GET /metricsx HTTP/1.1\r\nHost: x\r\n\r\n", 404),
            (b"GET /metrics/ HTTP/1.1\r\nHost: x\r\n\r\n", 404),
            (b"GET /%s<script> HTTP/1.1\r\nHost: x\r\n\r\n" % marker.encode(), 404),
            (b"HEAD /nothing HTTP/1.1\r\nHost: x\r\n\r\n", 404),
            (b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 405),
            (b"DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405),
            (b"GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n", 505),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
            (b"hello\r\n\r\n", 400),
            (b"GET /metrics\r\n\r\n", 400),                                   # HTTP/0.9
            (b"GET /metrics HTTP/1.1\r\n\r\n", 400),                          # no Host
            (b"GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),    # two
            (b"GET  /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            (b"GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
            (b"GET /metrics HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n", 400),
            (b"GET /metrics HTTP/1.1\r\nHost: x\r\nBad\x01: y\r\n\r\n", 400),
            (b"GET /metrics HTTP/1.1\r\nHost: x\x00\r\n\r\n", 400),
            (b"GET /metrics HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", 400),
            (b"GET /m\xe9trics HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            (b"G(T /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            (b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\n\n", 400),  # TLS hello
            (b"GET /metrics HTTP/1.1\r\nHost: x\r\n", 400),                   # ends midway
        ]
        for req, expected in cases:
            with self.subTest(request=req[:60]):
                status, headers, body, raw = exchange(port, req, half_close=True)
                self.assertEqual(status, expected, raw[:300])
                if not req.startswith(b"HEAD"):
                    self.assertEqual(int(headers["content-length"]), len(body))
                self.assertEqual(headers["connection"], "close")
                self.assertNotIn(marker.encode(), raw)
                if expected == 405:
                    self.assertEqual(headers["allow"], "GET, HEAD")
                if req.startswith(b"HEAD"):
                    self.assertEqual(body, b"")
        # A client that connects and leaves: no answer.
        self.assertEqual(exchange(port, b"", half_close=True)[0], None)
        # Nothing of it reached stderr, and the echo service did not notice.
        self.assertNotIn(marker.encode(), srv.stderr())
        e = scrape(port)
        self.assertEqual(e.value("sockserv_requests_accepted_total"), 0)
        srv.stop()
        self.assertEqual(other_lines(srv), [], srv.describe())

    def test_oversized_request(self):
        srv, port = self.metrics_server("echo", "--listen", TCP)
        big = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (2 * HEAD_MAX) + b"\r\n\r\n"
        status, headers, body, raw = exchange(port, big)
        self.assertEqual(status, 431, raw[:300])
        long_line = b"GET /" + b"m" * (2 * HEAD_MAX) + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        self.assertEqual(exchange(port, long_line)[0], 431)
        # Just under the limit is fine.
        pad = HEAD_MAX - len(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: \r\n\r\n")
        fits = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * pad + b"\r\n\r\n"
        self.assertEqual(len(fits), HEAD_MAX)
        self.assertEqual(exchange(port, fits)[0], 200)
        self.assertEqual(exchange(port, fits[:-1] + b"p\r\n")[0], 431)  # one byte more, no end
        scrape(port)
        srv.stop()

    def test_slow_and_idle_clients_block_nothing(self):
        # More trickling clients than the metrics server takes at once: the echo service
        # answers at once meanwhile; each trickler is dropped READ_LIMIT after it came in
        # (bytes trickling in do not extend it); a scrape behind them gets its answer
        # once they are dropped; the metrics server runs no more request threads than its
        # limit.
        srv, port = self.metrics_server("echo", "--listen", TCP, "--mode", "event", "--workers", "1")
        base_threads = len(os.listdir("/proc/%d/task" % srv.pid))
        slow = []
        t0 = time.monotonic()
        for _ in range(MAX_CONNECTIONS + 4):
            s = socket.create_connection(("127.0.0.1", port), timeout=GRACE)
            self.addCleanup(s.close)
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
            slow.append(s)
        dripped = 0
        while time.monotonic() - t0 < READ_LIMIT * 0.6:
            for s in slow:
                try:
                    s.send(b"X")
                except OSError:
                    pass
            dripped += 1
            with connect(srv.address) as c:  # the served protocol does not notice
                c.send(b"during %d\n" % dripped)
                self.assertEqual(c.recv_line(timeout=2 * SLOW), b"during %d\n" % dripped)
            time.sleep(0.25)
        threads = len(os.listdir("/proc/%d/task" % srv.pid))
        self.assertLessEqual(threads, base_threads + MAX_CONNECTIONS + 1)
        t1 = time.monotonic()
        e = scrape(port)  # queued behind them, answered once they are dropped
        waited = time.monotonic() - t1
        self.assertLess(waited, READ_LIMIT + GRACE)
        self.assertEqual(e.value("sockserv_requests_accepted_total"), dripped)
        # Every trickler was dropped without an answer, READ_LIMIT or so after it came.
        for s in slow:
            s.settimeout(READ_LIMIT + GRACE)
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b""
            self.assertEqual(data, b"", "a trickler got an answer")
        self.assertGreater(time.monotonic() - t0, READ_LIMIT * 0.9)
        print("\n  %d tricklers dropped after %.1f s; a scrape behind them waited %.1f s"
              % (len(slow), time.monotonic() - t0, waited), file=sys.stderr)
        srv.stop()
        self.assertEqual(other_lines(srv), [], srv.describe())  # no message about them

# ---------------------------------------------------------------- --processes


class Processes(MetricsCase):
    def test_supervisor_sums_workers_and_never_goes_back(self):
        srv, port = self.metrics_server("echo", "--listen", TCP, "--mode", "threading", processes=2)
        # Two clients held, one in each worker: both in the sum.
        held = []
        for i in range(20):
            c = connect(srv.address)
            self.addCleanup(c.close)
            c.send(b"held %d\n" % i)
            self.assertEqual(c.recv_line(), b"held %d\n" % i)
            held.append((serving_worker(srv, c), c))
            if len({w for w, _ in held}) == 2:
                break
        self.assertEqual(len({w for w, _ in held}), 2, "no two workers took a client")
        n = len(held)
        e = self.settled(port, lambda e: e.value("sockserv_requests_active") == n
                         and e.value("sockserv_requests_accepted_total") == n, "%d active" % n)
        self.assertEqual(e.value("sockserv_threads"), n)
        self.assertEqual(e.value("sockserv_info", mode="threading"), 1.0)
        for _, c in held:
            c.close()
        sent = self.echo_clients(srv, [b"a\n", b"bb\n", b"ccc\n"])
        total = n + 3
        last = self.settled(port, lambda e: e.value("sockserv_requests_completed_total") == total
                            and e.value("sockserv_requests_active") == 0, "%d completed" % total)
        history = [last]

        # A reload: the old workers drain and exit (their final counters kept), new ones serve.
        first = workers(srv)
        os.kill(srv.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: len(workers(srv)) == 2 and not (workers(srv) & first), GRACE),
                        srv.describe())
        history.append(scrape(port))
        sent += self.echo_clients(srv, [b"after reload\n"])
        total += 1
        history.append(self.settled(port, lambda e: e.value("sockserv_requests_completed_total") == total,
                                    "%d completed after the reload" % total))
        # kill -9 of a worker: its last report stays in the sum.
        victim = min(workers(srv))
        history.append(scrape(port))  # its latest counters reported
        os.kill(victim, signal.SIGKILL)
        self.assertTrue(wait_until(lambda: len(workers(srv)) == 2 and victim not in workers(srv), GRACE),
                        srv.describe())
        for _ in range(3):
            history.append(scrape(port))
        e = history[-1]
        self.assertEqual(e.value("sockserv_requests_completed_total"), total, "a killed worker's count lost")
        self.assertEqual(e.value("sockserv_requests_active"), 0)
        if detailed(e):
            self.assertEqual(e.value(HISTOGRAM + "_count"), total)
            held_bytes = sum(len(b"held %d\n" % i) for i in range(n))
            self.assertEqual(e.value("sockserv_received_bytes_total"), sent + held_bytes)
        for before, after in zip(history, history[1:]):
            b, a = before.monotonic_values(), after.monotonic_values()
            for key, v in b.items():
                self.assertGreaterEqual(a.get(key, -1), v, "%s went back" % (key,))
        # SIGUSR1 still answers alongside.
        os.kill(srv.pid, signal.SIGUSR1)
        self.assertTrue(wait_until(lambda: b'"completed":%d' % total in srv.stderr(), GRACE), srv.describe())
        srv.stop()

    def test_scrapes_not_in_the_connection_lines(self):
        """--verbose gives a line per connection of the served protocol; scrapes, which its
        counters leave out, are not among them, and the metrics listener's pauses around a
        reload's forks and its close say no drain: only the served listener's lines."""
        for processes in (None, 2):
            with self.subTest(processes=processes):
                srv, port = self.metrics_server("echo", "--listen", TCP, "--mode", "event",
                                                "--log-format", "json", "--verbose",
                                                processes=processes)
                self.echo_clients(srv, [b"served\n"])
                for _ in range(3):
                    scrape(port)
                if processes:
                    first = workers(srv)
                    os.kill(srv.pid, signal.SIGHUP)
                    self.assertTrue(wait_until(lambda: len(workers(srv)) == 2 and not (workers(srv) & first),
                                               GRACE), srv.describe())
                    scrape(port)
                srv.stop()
                objs = [json.loads(line) for line in srv.stderr().decode().splitlines()]
                metrics_url = "tcp://127.0.0.1:%d" % port
                opens = [o for o in objs if o["event"] == "conn_open"]
                self.assertEqual(len(opens), 1, srv.describe())
                for o in objs:
                    self.assertNotEqual(o.get("listener"), metrics_url, o)

    def test_scrapes_at_once_share_rounds(self):
        srv, port = self.metrics_server("echo", "--listen", TCP, "--mode", "event", processes=2)
        self.echo_clients(srv, [b"x\n"] * 4)
        self.settled(port, lambda e: e.value("sockserv_requests_completed_total") == 4, "4 completed")
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(12) as pool:
            got = list(pool.map(lambda _: scrape(port).value("sockserv_requests_completed_total"), range(36)))
        self.assertEqual(got, [4] * 36)
        srv.stop()

# ---------------------------------------------------------------- start


class Start(MetricsCase):
    def test_port_in_use(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            url = "tcp://127.0.0.1:%d" % port
            for extra in ([], ["--processes", "2"]):
                with self.subTest(extra=extra):
                    code, out, err = run(["echo", "--listen", TCP, "--metrics", url] + extra)
                    self.assertEqual(code, 1, err)
                    self.assertEqual(out, "")
                    self.assertEqual(err, "sockserv: cannot listen on --metrics %s: address already in use\n" % url)
        # The same address as a --listen.
        port = free_port()
        url = "tcp://127.0.0.1:%d" % port
        code, out, err = run(["echo", "--listen", url, "--metrics", url])
        self.assertEqual((code, out), (1, ""), err)
        self.assertEqual(err, "sockserv: cannot listen on --metrics %s: address already in use\n" % url)
        self.assertTrue(port_is_free(port), "the listener was left open")

    def test_address_announced(self):
        # One notice line on stderr with the port bound (the scrapes above all use it), in
        # the process that serves metrics: once with --processes (the supervisor's, not
        # the workers'); a JSON object with --log-format json; none with --quiet. Never
        # on stdout, whose lines are the listeners' ready lines.
        for extra in ([], ["--processes", "2"]):
            with self.subTest(extra=extra):
                srv, port = self.metrics_server("echo", "--listen", TCP, *extra)
                self.assertEqual(announcements(srv), [("127.0.0.1", port)])
                self.assertEqual(scrape(port).value("sockserv_info", mode="threading"), 1.0)
                self.assertEqual(srv.stdout().decode(), "listening on %s\n" % srv.url)
                srv.stop()
                self.assertEqual(other_lines(srv), [], srv.describe())

        srv = self.server("echo", "--listen", TCP, "--metrics", TCP, "--log-format", "json")
        port = metrics_port(srv)
        said = [json.loads(line) for line in srv.stderr().decode().splitlines()
                if json.loads(line)["event"] == "metrics"]
        self.assertEqual(len(said), 1, srv.describe())
        self.assertEqual(said[0]["msg"], "metrics on http://127.0.0.1:%d/metrics" % port)
        self.assertEqual((said[0]["level"], said[0]["pid"]), ("notice", srv.pid))
        scrape(port)
        srv.stop()

        srv = self.server("echo", "--listen", TCP, "--metrics", TCP, "--quiet")
        ports = listening_ports(srv.pid) - {srv.address.addr[1]}
        self.assertEqual(len(ports), 1, "no metrics listener: %s" % ports)
        scrape(ports.pop())
        srv.stop()
        self.assertEqual(srv.stderr(), b"", srv.describe())

        if ipv6_available():
            srv = self.server("echo", "--listen", TCP, "--metrics", "tcp://[::1]:0")
            if not wait_until(lambda: announcements(srv), GRACE):
                self.fail(srv.describe())
            host, port = announcements(srv)[0]
            self.assertEqual(host, "[::1]")
            with socket.create_connection(("::1", port), timeout=GRACE) as s:
                s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
                self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 200 OK\r\n"))
            srv.stop()

    def test_bad_url(self):
        for url in ("udp://127.0.0.1:9100", "unix:/tmp/m.sock", "tls://127.0.0.1:9100", "http://127.0.0.1:9100",
                    "tcp://127.0.0.1", "tcp://127.0.0.1:99999", "127.0.0.1:9100", ""):
            with self.subTest(url=url):
                self.assertUsageError(run(["echo", "--metrics", url]), starts="sockserv: ")


if __name__ == "__main__":
    unittest.main(verbosity=2)
