"""py_echo.py: the Python peers: socketserver's ThreadingTCPServer and ForkingTCPServer running a line echo.

Usage: python3 py_echo.py threading|forking [PORT]

The handler is the textbook StreamRequestHandler loop (readline, write),
which is what sockserv's echo does in C. Two class attributes differ from
Python's defaults, both to match sockserv's: request_queue_size 128 (Python's
5 makes clients of a busy server wait a second for a SYN retransmit, which
would measure the kernel rather than the server) and allow_reuse_address.
"""
import resource
import signal
import socketserver
import sys


class EchoHandler(socketserver.StreamRequestHandler):
    def handle(self):
        readline = self.rfile.readline
        write = self.wfile.write
        while True:
            line = readline(1 << 20)
            if not line:
                break
            write(line)


class Threading(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class Forking(socketserver.ForkingTCPServer):
    allow_reuse_address = True
    request_queue_size = 128


def main():
    if len(sys.argv) not in (2, 3) or sys.argv[1] not in ("threading", "forking"):
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    port = int(sys.argv[2]) if len(sys.argv) == 3 else 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cls = Threading if sys.argv[1] == "threading" else Forking
    server = cls(("127.0.0.1", port), EchoHandler)
    # SIGTERM ends the process at once (the default action); forked children
    # are in the same process group and are ended by the caller with it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    print("listening on tcp://127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
