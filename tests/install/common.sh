# common.sh: what the install tests share: a temp dir, loud failures, installing the build, running an example server and talking to it.
# Sourced (". common.sh") after setting TEST, the name that prefixes every message.
# Needs only a POSIX sh, cmake and python3.

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sockserv-$TEST.XXXXXX") || exit 1
PID=
status=0
runs=0

cleanup() {
    if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# A failure that ends the test at once.
fail() {
    echo "$TEST: FAIL: $*" >&2
    exit 1
}
# A failure that does not stop the remaining checks.
problem() {
    echo "$TEST: FAIL: $*" >&2
    status=1
}
note() {
    echo "$TEST: $*"
}
# The end of a test: its verdict, from the problems seen.
finish() {
    if [ "$status" -ne 0 ]; then
        echo "$TEST: FAILED" >&2
        exit 1
    fi
    echo "$TEST: all checks passed"
    exit 0
}

# install_build BUILD PREFIX: cmake --install, its output kept in $TMP/install.log.
install_build() {
    cmake --install "$1" --prefix "$2" >"$TMP/install.log" 2>&1 || {
        cat "$TMP/install.log" >&2
        fail "cmake --install $1 --prefix $2 failed"
    }
    note "installed into $2"
}

# sanitizer_flags BUILD: -fsanitize=... when BUILD is a sanitizer build (make asan), whose
# installed library is instrumented: a program built against it needs the same flag.
sanitizer_flags() {
    san=$(sed -n 's/^SS_SANITIZE:[A-Z]*=//p' "$1/CMakeCache.txt" 2>/dev/null)
    echo "${san:+-fsanitize=$san}"
}

# start_server WHAT COMMAND...: run COMMAND (a server printing "listening on tcp://127.0.0.1:PORT")
# in the background; once its ready line is out, PID is its process and PORT its port.
start_server() {
    what=$1
    shift
    runs=$((runs + 1))
    OUT=$TMP/out.$runs
    ERR=$TMP/err.$runs
    : >"$OUT"
    "$@" >"$OUT" 2>"$ERR" &
    PID=$!
    i=0
    while [ "$(wc -l <"$OUT")" -lt 1 ]; do
        if ! kill -0 "$PID" 2>/dev/null; then
            cat "$ERR" >&2
            PID=
            fail "$what exited before its ready line"
        fi
        i=$((i + 1))
        [ "$i" -le 200 ] || { cat "$ERR" >&2; fail "no ready line from $what within 10 s"; }
        sleep 0.05
    done
    line=$(head -n 1 "$OUT")
    case $line in
        "listening on tcp://127.0.0.1:"*) ;;
        *) fail "$what: unexpected ready line: '$line'" ;;
    esac
    PORT=${line##*:}
    case $PORT in
        '' | 0 | *[!0-9]*) fail "$what: port not resolved in the ready line: '$line'" ;;
    esac
    note "$what: $line"
}

# talk_echo_prefix WHAT: two lines to examples/echo_prefix.c on PORT, each expected back
# prefixed with the client's address, then "quit" must close the connection.
talk_echo_prefix() {
    python3 - "$PORT" "$TEST" <<'EOF' || problem "$1 did not answer as expected"
import socket, sys
port, test = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.settimeout(10)
want = b""
for text in (b"hello " + test.encode(), b"second line"):
    s.sendall(text + b"\n")
    want += ("%s:%d " % s.getsockname()).encode() + text + b"\n"
got = b""
while len(got) < len(want):
    chunk = s.recv(4096)
    if not chunk:
        break
    got += chunk
if got != want:
    sys.exit("got %r, expected %r" % (got, want))
s.sendall(b"quit\n")
if s.recv(100) != b"":
    sys.exit("the connection stayed open after quit")
print("%s: the server replied %r" % (test, got.split(b"\n")[0]))
EOF
}

# stop_server WHAT: SIGTERM, then the exit within 10 s with status 0.
stop_server() {
    kill -TERM "$PID" 2>/dev/null || { PID=; fail "$1 died before SIGTERM"; }
    i=0
    while kill -0 "$PID" 2>/dev/null; do
        # A zombie still answers kill -0: stop waiting once it is one.
        case $(cut -d' ' -f3 "/proc/$PID/stat" 2>/dev/null) in Z | X) break ;; esac
        i=$((i + 1))
        if [ "$i" -gt 200 ]; then
            kill -9 "$PID" 2>/dev/null
            fail "$1 still running 10 s after SIGTERM"
        fi
        sleep 0.05
    done
    wait "$PID"
    code=$?
    PID=
    [ "$code" -eq 0 ] || { cat "$ERR" >&2; problem "$1 exited with $code after SIGTERM, expected 0"; }
}

# needs_lib FILE: true when the ELF program FILE loads libsockserv.so.0 (python3: no readelf on a minimal Debian).
needs_lib() {
    python3 - "$1" <<'EOF'
import sys
sys.exit(0 if b"libsockserv.so.0\0" in open(sys.argv[1], "rb").read() else 1)
EOF
}
