#!/usr/bin/env python3
"""seeds.py: writes the hand-made seed corpus (tests/fuzz/corpus/<target>/seed-*); inputs found by fuzzing sit beside them.

Usage: seeds.py [BUILD_DIR]    (default: build, a build with OpenSSL)

The TLS target's seeds are real TLS clients, recorded by a C program of the
build, BUILD_DIR/tests/fuzz/fuzz_tls_seeds (tls_seeds.c): OpenSSL clients
talking to the fuzz target's own server, whose certificate and random bytes
are the same in every run, so that a recorded client completes the handshake
whenever it is replayed; and hand-made variants of their bytes. Run this again
after a change of OpenSSL or of the library's TLS context: seeds recorded
against another server only fail their handshake (the replay still passes,
the fuzzer just starts from less). Without that program the TLS seeds are
left as they are.

Input layout of reader, chat_line, datagram and http: byte 0 = n, then n control
bytes, then the payload (see fuzz.h and each target). Control bytes used as a
size (ctl.c): 0-63 -> 1..64, 64-127 -> up to ~3.8 KiB, 128-191 -> the read
buffer size -32..+31, 192-255 -> 1..8 times it. Read calls (script.c):
0 read, 1 read1, 2 readline, 3 readline_ref, 4 read_all, 5 bad arguments.
Each time the reader waits, feed.c takes a fault byte (0xFE a timeout, 0xFF a
drain deadline, else none), then a chunk size.
"""
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Reproducers of library bugs found by fuzzing and not fixed yet: written to
# repro/<target>/ (not replayed by ctest) instead of corpus/<target>/. Once
# the fix is in, drop the name here, delete repro/ and run this again.
PENDING = {}
READ, READ1, READLINE, READLINE_REF, READ_ALL, BAD_ARGS = range(6)


def framed(ctl, payload):
    assert len(ctl) < 256
    return bytes([len(ctl)]) + bytes(ctl) + payload


def url_seeds():
    good = ["tcp://127.0.0.1:9999", "tcp://0.0.0.0:0", "tcp://[::1]:8080", "tcp://[::]:65535",
            "tcp://[::ffff:127.0.0.1]:1", "tcp://localhost:80", "tcp://my-host.example_1.org:443",
            "udp://127.0.0.1:53", "udp://[fe80::1]:5353", "udp://name:0080",
            "unix:/tmp/sockserv.sock", "unix:relative/path", "unix:@abstract-name",
            "unix-dgram:/run/x.sock", "unix-dgram:@d", "unix:" + "p" * 107,
            "tls://127.0.0.1:443", "tls://[::1]:8443", "tls://localhost:0443"]
    bad = ["", "tcp://", "tcp://127.0.0.1", "tcp://127.0.0.1:", "tcp://:80", "tcp://::1:80",
           "tcp://[::1]", "tcp://[::1]80", "tcp://[::1", "tcp://[]:80", "tcp://[1.2.3.4]:80",
           "tcp://host:65536", "tcp://host:-1", "tcp://host:+1", "tcp://ho st:1", "tcp://h%:1",
           "tcp://" + "h" * 256 + ":1", "http://x:1", "TCP://x:1", "unix:", "unix:@",
           "unix:" + "p" * 108, "unix-dgram:", "udp://[fe80::1%lo]:1", "tls://", "tls://host", "tls:/host:1"]
    return {**{"ok-%02d" % i: u.encode() for i, u in enumerate(good)},
            **{"bad-%02d" % i: u.encode() for i, u in enumerate(bad)}}


def reader_seeds():
    lines = b"hello\nworld\r\n\nlast line without newline"
    binary = bytes(range(256)) + b"\0\0\n\0" + bytes(range(255, -1, -1))
    long_line = b"x" * 9000 + b"\n" + b"y" * 100 + b"\n"
    return {
        "empty": b"",
        "no-control": lines,
        # rbufsize 64; readline, readline_ref, read1, read in turn; small chunks.
        "lines-mixed": framed([4, READLINE, 10, READLINE_REF, 20, READ1, 3, READ, 5, 2], lines),
        # rbufsize 1 and idle buffers freed (0x80): one byte per buffer.
        "rbuf1-idle": framed([0x80, READLINE_REF, 40, READLINE, 2, 1], lines),
        # readline_ref with a limit shorter than the line: -EMSGSIZE, then read on.
        "ref-too-long": framed([4, READLINE_REF, 3, READLINE_REF, 63], lines),
        # read_all of everything, limit a few KiB.
        "read-all": framed([5, READ_ALL, 2, 70], binary),
        # read_all over its limit: stops the script.
        "read-all-over": framed([5, READ_ALL, 2, 3], binary),
        # Bad arguments, then reads at the buffer's edges (rbufsize 8192).
        "bad-args-edges": framed([6, BAD_ARGS, READ, 160, READ1, 200, READLINE, 128, 64], long_line),
        # A line longer than the read buffer: readline_ref grows it, then shrinks back.
        "long-line": framed([6, READLINE_REF, 0xC8, READLINE_REF, 0xC8, READLINE, 5, 0xC0], long_line),
        "nuls": framed([2, READ1, 7, READLINE, 1, 9], b"\0" * 50 + b"\n\0\r\n" + b"\0" * 20),
        # Faults where the reader waits (feed.c): 0xFE a timeout, 0xFF a drain that cancels.
        "timeouts": framed([4, READLINE, 0xFE, 20, READ, 0xFE, 7, READ1, 0xFE], lines),
        "timeout-read-all": framed([4, READ_ALL, 2, 0xFE, 80], binary),
        "cancel": framed([11, READ1, 3, 0, 0xFF], lines),
        # read_all without a limit (SIZE_MAX).
        "read-all-no-limit": framed([4, READ_ALL, 1], lines),
    }


def chat_seeds():
    # ctl: [line limit as a size, rbufsize/idle byte, chunk sizes...]
    base = [40, 4, 5, 1]  # limit 41 bytes, rbufsize 64
    return {
        "empty": b"",
        "say-and-quit": framed(base, b"hello\r\nsecond line\nquit\r\nnever read\n"),
        "quit-forms": framed(base, b"quit now\nquitquit\n  quit  \n"),
        "quit-tab": framed(base, b"\tquit\n"),
        "quit-cr": framed(base, b"x\nquit \r\n"),
        "quit-vt": framed(base, b"\x0bquit\x0c\r\n"),
        "last-without-newline": framed(base, b"one\ntwo"),
        "quit-at-end": framed(base, b"one\nquit"),
        "crcr": framed(base, b"a\r\r\n\r\n\n\r"),
        "nuls": framed(base, b"\0\0\0\n\0quit\0\n\r\0\n"),
        "exact-limit": framed(base, b"L" * 41 + b"\nnext\n"),
        "exact-limit-crlf": framed(base, b"L" * 41 + b"\r\nnext\n"),
        "over-limit": framed(base, b"L" * 42 + b"\nnext\n"),
        "over-limit-crlf": framed(base, b"L" * 42 + b"\r\nnext\n"),
        "limit-cr-text": framed(base, b"L" * 40 + b"\r\r\nnext\n"),
        # Text the cleaning must neutralise, and text it must keep byte for byte.
        "terminal-controls": framed(base, b"\x1b[2J\x1b]0;title\x07\n\x00nul\x7f\n1.2.3.4:5 \rforged\n"),
        "c1-controls": framed(base, b"\xc2\x80\xc2\x85\xc2\x9b2J\xc2\x9f\xc2\xa0\n"),
        "bidi": framed(base, b"\xe2\x80\xaeevil\xe2\x80\xac\xe2\x81\xa6x\xe2\x81\xa9\xe2\x80\x8f\n"),
        "separators": framed(base, b"a\xe2\x80\xa8b\xe2\x80\xa9c\xc2\x85d\n"),
        "bad-utf8": framed(base, b"\xc0\xaf\xe0\x80\xaf\xed\xa0\x80\xf4\x90\x80\x80\xf8\x88\n"),
        "truncated-utf8": framed(base, b"\xe2\x82A\xf0\x9f\x98\x80\x80\xff\xfe\n\xe2"),
        "good-utf8": framed(base, b"caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80\t\xf4\x8f\xbf\xbf\n"),
        "over-limit-at-end": framed(base, b"ok\n" + b"L" * 42),
        "limit-1": framed([0, 0x80, 1], b"a\n\n\r\nb\n"),
        "long-lines-rbuf8192": framed([0xC1, 6, 0xC0, 0x80], (b"z" * 8191 + b"\n") * 3),
        "timeout": framed([40, 4, 0, 5, 0xFE, 3], b"one\ntwo\nthree\n"),
        "cancel": framed([40, 4, 0, 5, 0xFF, 3], b"one\ntwo\nthree\n"),
    }


def datagram_seeds():
    # ctl byte 0: client kind = b % 3 (unix bound, unix unbound, udp),
    # max_packet_size = (1, 100, 8192)[b // 3 % 3], 0x80: rbufsize 7,
    # 0x40: the handler writes "" first (a reply even when it reads nothing).
    seeds = {"empty": b""}
    text = b"line one\nline two\r\n\0binary\xff\n"
    for kind, kname in enumerate(("unix", "unbound", "udp")):
        for size, sname in enumerate(("1", "100", "8192")):
            b = kind + 3 * size
            seeds["%s-max%s-small" % (kname, sname)] = framed([b, READLINE, 5, READ1, 2], text)
            seeds["%s-max%s-empty" % (kname, sname)] = framed([b], b"")
            seeds["%s-max%s-byte" % (kname, sname)] = framed([b], b"x")
    seeds["unix-max100-exact"] = framed([3, READ_ALL, 2, 100], b"e" * 100)
    seeds["unix-max100-over"] = framed([3], b"o" * 101)
    seeds["udp-max8192-exact"] = framed([8, READLINE_REF, 0xC0], b"u" * 8191 + b"\n")
    seeds["udp-max8192-over"] = framed([8], b"u" * 8193)
    seeds["unix-rbuf7-reads"] = framed([0x80 | 6, READ, 0xC1, READLINE_REF, 3, READ_ALL, 2, 50, READ1, 9], text * 4)
    seeds["unix-read-all-over"] = framed([6, READ_ALL, 2, 5], text)
    seeds["unix-empty-write"] = framed([0x40 | 6, READ1, 5], text)
    seeds["unix-empty-write-empty"] = framed([0x40 | 6], b"")
    seeds["udp-empty-write-empty"] = framed([0x40 | 8], b"")
    return seeds


def proxy_seeds():
    """PROXY protocol headers (HAProxy's doc/proxy-protocol.txt), each followed by
    a few bytes of the connection, good and bad."""
    sig = b"\r\n\r\n\x00\r\nQUIT\n"

    def v2(cmd, fam, addrs, tlv=b""):
        rest = addrs + tlv
        return sig + bytes([0x20 | cmd, fam]) + len(rest).to_bytes(2, "big") + rest

    in4 = bytes([192, 0, 2, 1, 198, 51, 100, 2, 0x15, 0xB3, 0, 80])
    in6 = bytes(range(16)) + bytes(range(16, 32)) + b"\x00\x01\xff\xff"
    un = b"/run/a.sock".ljust(108, b"\0") + b"@".ljust(108, b"\0")
    tlv = b"\x01\x00\x02h2" + b"\x20\x00\x05\x01\x00\x00\x00\x00"
    good = [b"PROXY TCP4 192.0.2.1 198.51.100.2 5555 80\r\nGET /", b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n",
            b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nx",
            b"PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n", v2(1, 0x11, in4) + b"data", v2(1, 0x21, in6),
            v2(1, 0x31, un), v2(0, 0x00, b""), v2(1, 0x11, in4, tlv), v2(1, 0x00, b""), v2(1, 0x12, in4),
            v2(0, 0x11, in4 + b"\0" * 400)]
    bad = [b"GET / HTTP/1.1\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
           b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 02\r\n",
           b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", b"PROXY TCP4 ::1 ::1 1 2\r\n", b"PROXY TCP5 a b 1 2\r\n",
           b"PROXY " + b"A" * 120, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\x00\n", b"PROXY \x1b[2J 1 2\r\n",
           v2(1, 0x11, in4[:8]), v2(1, 0x21, in4), sig + b"\x31\x11\x00\x0c" + in4, sig + b"\x22\x11\x00\x0c" + in4,
           sig[:11] + b"X", b"PROXY"]
    return {**{"ok-%02d" % i: v for i, v in enumerate(good)}, **{"bad-%02d" % i: v for i, v in enumerate(bad)}}


def http_seeds():
    """Requests to the --metrics listener (fuzz_http.c): ctl = [the head's size
    limit as a size (0xA0: 8192, metrics.c's), the body's length / 7 (0xFF: the
    deadline already passed), rbufsize, then a fault byte and a chunk size at
    each wait], then what the client sends."""
    base = [0xA0, 10, 4, 0, 5]  # 8192, a body of 70 bytes, rbufsize 64, chunks of a few bytes
    host = b"Host: 127.0.0.1:9100\r\n"
    get = b"GET /metrics HTTP/1.1\r\n" + host + b"User-Agent: Prometheus/2.0\r\nAccept: */*\r\n\r\n"
    seeds = {
        "empty": b"",
        "get": framed(base, get),
        "get-one-byte-chunks": framed([0xA0, 3, 0, 0, 0], get),
        "head": framed(base, b"HEAD /metrics HTTP/1.1\r\nhOsT: x\r\n\r\n"),
        "absolute-form": framed(base, b"GET hTTp://127.0.0.1:9100/metrics?x=1 HTTP/1.1\r\n" + host + b"\r\n"),
        "absolute-no-path": framed(base, b"GET http://metrics HTTP/1.1\r\n" + host + b"\r\n"),
        "query-fragment": framed(base, b"GET /metrics?name[]=up&x=%20#frag HTTP/1.1\r\nHost:\r\n\r\n"),
        "http10-no-host": framed(base, b"GET /metrics HTTP/1.0\r\n\r\n"),
        "http11-no-host": framed(base, b"GET /metrics HTTP/1.1\r\nX-Host: a\r\n\r\n"),
        "two-hosts": framed(base, b"GET /metrics HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n"),
        "http19": framed(base, b"HEAD /metrics HTTP/1.9\r\n" + host + b"\r\n"),
        "other-path": framed(base, b"HEAD /metricsx HTTP/1.1\r\n" + host + b"\r\n"),
        "bad-method": framed(base, b"POST /metrics HTTP/1.1\r\n" + host + b"Content-Length: 3\r\n\r\nabc"),
        "bad-method-chars": framed(base, b"G(T /metrics HTTP/1.1\r\n" + host + b"\r\n"),
        "bad-version": framed(base, b"GET /metrics HTTP/2.0\r\n" + host + b"\r\n"),
        "bad-version-form": framed(base, b"GET /metrics http/1.10\r\n" + host + b"\r\n"),
        "asterisk": framed(base, b"OPTIONS * HTTP/1.1\r\n" + host + b"\r\n"),
        "double-space": framed(base, b"GET  /metrics HTTP/1.1\r\n" + host + b"\r\n"),
        "no-colon": framed(base, b"GET /metrics HTTP/1.1\r\n" + host + b"NoColonHere\r\n\r\n"),
        "space-before-colon": framed(base, b"GET /metrics HTTP/1.1\r\nHost : a\r\n\r\n"),
        "obs-fold": framed(base, b"GET /metrics HTTP/1.1\r\n" + host + b"X: a\r\n\tb\r\n\r\n"),
        "nul": framed(base, b"GET /metrics HTTP/1.1\r\nHost: a\x00b\r\n\r\n"),
        "controls": framed(base, b"GET /metrics HTTP/1.1\r\n" + host + b"X: \x1b[2J\x7f\r\n\r\n"),
        "obs-text": framed(base, b"GET /metrics HTTP/1.1\r\n" + host + b"X: caf\xc3\xa9\t\xff\r\n\r\n"),
        "bare-cr": framed(base, b"GET /metrics HTTP/1.1\rHost: a\r\n\r\r\n\r\n"),
        "lf-only": framed(base, b"GET /metrics HTTP/1.1\nHost: a\n\n"),
        "lf-crlf-end": framed(base, b"GET /metrics HTTP/1.1\r\nHost: a\n\r\n"),
        "pipelined": framed(base, get + b"GET /metrics HTTP/1.1\r\nHost: b\r\n\r\n" + b"z" * 300),
        "truncated": framed(base, b"GET /metrics HTTP/1.1\r\nHost: a\r\n"),
        "oversized": framed(base, b"GET /metrics HTTP/1.1\r\n" + host + b"X-Pad: " + b"p" * 9000 + b"\r\n\r\n"),
        # A limit of 64 bytes (ctl 63): a head of exactly 64, and one of 65.
        "limit-exact": framed([63, 1, 5], b"GET /metrics HTTP/1.1\r\nHost: a\r\nX: " + b"e" * 25 + b"\r\n\r\n"),
        "limit-over": framed([63, 1, 5], b"GET /metrics HTTP/1.1\r\nHost: a\r\nX: " + b"e" * 26 + b"\r\n\r\n"),
        "timeout": framed([0xA0, 2, 4, 0, 9, 0xFE, 9], get),
        "cancel": framed([0xA0, 2, 4, 0, 9, 0xFF, 9], get),
        "deadline-passed": framed([0xA0, 0xFF, 6], get),
        "big-body-linger-fault": framed([0xA0, 0xFE, 5, 0, 0xC0, 0xFE], get + b"y" * 5000),
    }
    assert len(seeds["limit-exact"]) - 4 == 64 and len(seeds["limit-over"]) - 4 == 65
    return seeds


def tls_seeds(build):
    recorder = os.path.join(build, "tests", "fuzz", "fuzz_tls_seeds")
    if not os.access(recorder, os.X_OK):
        print("tls: seeds left as they are: no %s (build with OpenSSL first: make build)" % recorder, file=sys.stderr)
        return
    d = os.path.join(HERE, "corpus", "tls")
    os.makedirs(d, exist_ok=True)
    for old in glob.glob(os.path.join(d, "seed-*")):
        os.remove(old)
    subprocess.run([recorder, d], check=True, stdout=sys.stderr)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "build")
    for target, seeds in (("url", url_seeds()), ("reader", reader_seeds()),
                          ("chat_line", chat_seeds()), ("datagram", datagram_seeds()),
                          ("proxy", proxy_seeds()), ("http", http_seeds())):
        for name, data in seeds.items():
            d = os.path.join(HERE, "repro" if name in PENDING.get(target, ()) else "corpus", target)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "seed-" + name), "wb") as f:
                f.write(data)
        print("%s: %d seeds" % (target, len(seeds)), file=sys.stderr)
    tls_seeds(build)


if __name__ == "__main__":
    main()
