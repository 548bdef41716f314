#!/usr/bin/env python3
"""room.py: chat throughput with and without Redis in the path (issue 14): lines per second delivered to N members (default 100) spread over two `sockserv chat` processes.

Three cases: one process, one room of every member (the in-process broker
alone); two processes without Redis, each a room of its own (a line reaches
the members of its process); two processes with `--room`, one room through a
redis-server of this script's own (a line goes to Redis and back to both
processes, and reaches every member). Two members (one on each process, with
two) each say LINES lines as fast as they can, every member reads everything
it is sent, and the figure is the lines delivered (summed over the members)
per second, from the first line sent to the last one read; the best of
ROUNDS runs.

Usage: python3 bench/room.py [--bin build/sockserv] [--members 100] [--lines 5000] [--mode event]
"""
import argparse
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(tmp):
    exe = shutil.which("redis-server")
    if not exe:
        sys.exit("room.py: redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--logfile", os.path.join(tmp, "redis.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(100).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("room.py: redis-server did not start")


def start_chat(exe, tmp, mode, room):
    args = [exe, "chat", "--listen", "tcp://127.0.0.1:0", "--mode", mode, "--drain", "0.2"]
    if room:
        args += ["--room", room]
    out = open(os.path.join(tmp, "out.%d" % time.monotonic_ns()), "w+b")
    err = open(os.path.join(tmp, "err.%d" % time.monotonic_ns()), "w+b")
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out.seek(0)
        line = out.readline()
        if line.endswith(b"\n"):
            port = int(line.rsplit(b":", 1)[1])
            break
        time.sleep(0.02)
    else:
        proc.kill()
        sys.exit("room.py: sockserv chat did not start")
    if room:  # shared once it says so
        while b"room shared" not in (err.seek(0) or err.read()):
            if time.monotonic() > deadline:
                proc.kill()
                sys.exit("room.py: the room was not shared:\n" + err.read().decode(errors="replace"))
            time.sleep(0.02)
    return proc, port


def drain(socks, want, timeout):
    """Read every socket until each has `want[s]` more lines; returns when all have."""
    sel = selectors.DefaultSelector()
    left = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        left[s] = want[s]
    pending = sum(1 for s in socks if left[s] > 0)
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise RuntimeError("lines missing after %.0fs: %d members short" % (timeout, pending))
        for key, _ in sel.select(1.0):
            s = key.fileobj
            try:
                data = s.recv(1 << 20)
            except BlockingIOError:
                continue
            if not data:
                raise RuntimeError("a member was disconnected")
            before = left[s]
            left[s] -= data.count(b"\n")
            if before > 0 >= left[s]:
                pending -= 1
    sel.close()


def run(exe, mode, members, lines, with_redis, nproc=2):
    tmp = tempfile.mkdtemp(prefix="sockserv-room-bench-")
    procs = []
    try:
        room = None
        if with_redis:
            redis, port = start_redis(tmp)
            procs.append(redis)
            room = "redis://127.0.0.1:%d" % port
        ports = []
        for _ in range(nproc):
            p, port = start_chat(exe, tmp, mode, room)
            procs.append(p)
            ports.append(port)
        socks = [socket.create_connection(("127.0.0.1", ports[i % nproc])) for i in range(members)]
        # Once all are in (a member hears only what is said after its handler
        # joined), each says one line, and every member reads them all.
        time.sleep(1.0)
        for s in socks:
            s.sendall(b"joined\n")
        one_room = with_redis or nproc == 1
        per = {s: (members if one_room else members // 2) for s in socks}
        drain(socks, per, 30)
        senders = socks[:2]  # one on each process (with two)
        text = b"x" * 40 + b"\n"
        per = {s: (2 * lines if one_room else lines) for s in socks}
        t0 = time.monotonic()
        for s in senders:
            s.setblocking(True)
            s.sendall(text * lines)
        drain(socks, per, 120)
        took = time.monotonic() - t0
        delivered = sum(per.values())
        for s in socks:
            s.close()
        return delivered, took
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "sockserv"))
    ap.add_argument("--members", type=int, default=100)
    ap.add_argument("--lines", type=int, default=5000, help="lines said by each of the two senders")
    ap.add_argument("--mode", default="event")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    print("| path | members | lines said | lines delivered | seconds | deliveries/s |")
    print("|---|---:|---:|---:|---:|---:|")
    cases = [("one process, one room (no Redis)", False, 1),
             ("two processes, a room each (no Redis)", False, 2),
             ("two processes, one room through Redis", True, 2)]
    for name, with_redis, nproc in cases:
        best = None
        for _ in range(a.rounds):
            delivered, took = run(a.bin, a.mode, a.members, a.lines, with_redis, nproc)
            if best is None or took < best[1]:
                best = (delivered, took)
        delivered, took = best
        print("| %s | %d | %d | %d | %.2f | %.0f |" % (name, a.members, 2 * a.lines, delivered,
                                                       took, delivered / took))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
