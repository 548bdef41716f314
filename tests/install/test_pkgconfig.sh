#!/bin/sh
# test_pkgconfig.sh: install the build into a temp prefix, build examples/echo_prefix.c against it through pkg-config, run it.
# usage: sh tests/install/test_pkgconfig.sh BUILD_DIR SOURCE_DIR
# Needs only cmake, cc, pkg-config (pkgconf), python3 and a POSIX sh: no readelf, nc or socat.
set -u
BUILD=${1:?usage: test_pkgconfig.sh BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: test_pkgconfig.sh BUILD_DIR SOURCE_DIR}
CC=${CC:-cc}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sockserv-pkgconfig.XXXXXX") || exit 1
PID=
status=0

cleanup() {
    if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
    echo "test_pkgconfig: FAIL: $*" >&2
    exit 1
}
# A failure that does not stop the remaining checks.
problem() {
    echo "test_pkgconfig: FAIL: $*" >&2
    status=1
}
note() {
    echo "test_pkgconfig: $*"
}

# 1. Install.
PREFIX=$TMP/prefix
cmake --install "$BUILD" --prefix "$PREFIX" >"$TMP/install.log" 2>&1 || {
    cat "$TMP/install.log" >&2
    fail "cmake --install $BUILD --prefix $PREFIX failed"
}
note "installed into $PREFIX"

# 2. What must be there: header, pkg-config file, shared library with a soname, static library.
[ -f "$PREFIX/include/sockserv.h" ] || fail "header not installed ($PREFIX/include/sockserv.h missing)"
pc=$(find "$PREFIX" -path '*/pkgconfig/sockserv.pc' | head -n 1)
[ -n "$pc" ] || fail "sockserv.pc not installed under $PREFIX (looked for */pkgconfig/sockserv.pc)"
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
note "pkg-config file: ${pc#"$PREFIX"/}, libdir: ${libdir#"$PREFIX"/}"
[ -f "$libdir/libsockserv.a" ] || problem "static library missing: $libdir/libsockserv.a"
[ -e "$libdir/libsockserv.so" ] || problem "development symlink missing: $libdir/libsockserv.so"
[ -e "$libdir/libsockserv.so.0" ] || problem "soname symlink missing: $libdir/libsockserv.so.0"

# The soname recorded in the library itself, and its exports, read from the ELF file with python3
# (readelf is not on a minimal Debian): every SS_API function of the installed header is exported,
# and every exported function is ss_* (internals are hidden).
python3 - "$libdir/libsockserv.so" "$PREFIX/include/sockserv.h" <<'EOF' || problem "shared library checks failed"
import re, struct, sys

def elf_dynamic(path):
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF":
        sys.exit("%s: not an ELF file" % path)
    bits = {1: 32, 2: 64}[data[4]]
    end = {1: "<", 2: ">"}[data[5]]
    if bits == 64:
        shoff, = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
        shfmt, dynfmt, symfmt = end + "IIQQQQIIQQ", end + "qQ", end + "IBBHQQ"
    else:
        shoff, = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
        shfmt, dynfmt, symfmt = end + "IIIIIIIIII", end + "iI", end + "IIIBBH"
    secs = [struct.unpack_from(shfmt, data, shoff + i * shentsize) for i in range(shnum)]
    # (name, type, flags, addr, offset, size, link, info, addralign, entsize)
    def string(sec, off):
        start = sec[4] + off
        return data[start:data.index(b"\0", start)].decode()
    soname, exports = None, set()
    for s in secs:
        if s[1] == 6:  # SHT_DYNAMIC
            strtab = secs[s[6]]
            step = struct.calcsize(dynfmt)
            for i in range(s[5] // step):
                tag, val = struct.unpack_from(dynfmt, data, s[4] + i * step)
                if tag == 14:  # DT_SONAME
                    soname = string(strtab, val)
        if s[1] == 11:  # SHT_DYNSYM
            strtab = secs[s[6]]
            step = struct.calcsize(symfmt)
            for i in range(1, s[5] // step):
                f = struct.unpack_from(symfmt, data, s[4] + i * step)
                if bits == 64:
                    name, info, other, shndx = f[0], f[1], f[2], f[3]
                else:
                    name, info, other, shndx = f[0], f[3], f[4], f[5]
                bind, typ = info >> 4, info & 15
                if shndx != 0 and bind in (1, 2) and typ == 2:  # defined global FUNC
                    exports.add(string(strtab, name))
    return soname, exports

lib, header = sys.argv[1], sys.argv[2]
soname, exports = elf_dynamic(lib)
ok = True
if soname != "libsockserv.so.0":
    print("soname is %r, expected 'libsockserv.so.0'" % soname, file=sys.stderr)
    ok = False
api = set(re.findall(r"\bSS_API\b[^;(]*?\b(ss_[a-z0-9_]+)\s*\(", open(header).read()))
if not api:
    print("no SS_API functions found in %s" % header, file=sys.stderr)
    ok = False
missing = sorted(api - exports)
if missing:
    print("declared in sockserv.h but not exported: %s" % ", ".join(missing), file=sys.stderr)
    ok = False
leaked = sorted(n for n in exports if not n.startswith("ss_") and not n.startswith("_"))
if leaked:
    print("exported but not public API (should be hidden): %s" % ", ".join(leaked), file=sys.stderr)
    ok = False
print("test_pkgconfig: soname %s, %d API functions exported" % (soname, len(api & exports)))
sys.exit(0 if ok else 1)
EOF

# 3. pkg-config: the flags must point into the prefix the files were installed to.
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs sockserv) || fail "pkg-config --cflags --libs sockserv failed"
note "pkg-config --cflags --libs sockserv: $flags"
# (A relative prefix such as ${pcfiledir}/../.. is fine: directories are compared resolved.)
real() { (cd "$1" 2>/dev/null && pwd -P); }
want_inc=$(real "$PREFIX/include")
want_lib=$(real "$libdir")
inc_ok=no
lib_ok=no
for word in $flags; do
    case $word in
        -I*) [ "$(real "${word#-I}")" = "$want_inc" ] && inc_ok=yes ;;
        -L*) [ "$(real "${word#-L}")" = "$want_lib" ] && lib_ok=yes ;;
    esac
done
[ "$inc_ok" = yes ] || problem "sockserv.pc's Cflags do not point at $PREFIX/include, where it was installed (a prefix fixed at configure time does not follow 'cmake --install --prefix' or 'make install PREFIX=...'): $flags"
[ "$lib_ok" = yes ] || problem "sockserv.pc's Libs do not point at $libdir: $flags"
if [ "$status" -ne 0 ]; then
    # Go on with the prefix redefined, so the remaining checks still say something.
    flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --define-variable=prefix="$PREFIX" --cflags --libs sockserv) ||
        fail "pkg-config --define-variable=prefix=... failed"
    note "continuing with: $flags"
fi

# 4. Build the example outside the build system, against the installed shared library.
# A sanitizer build (make asan) installs an instrumented library: the program needs the same flag.
san=$(sed -n 's/^SS_SANITIZE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)
sanflags=${san:+-fsanitize=$san}
[ -z "$sanflags" ] || note "sanitizer build: adding $sanflags"
# shellcheck disable=SC2086 # $flags is a list of words
$CC -std=c11 -Wall -Wextra $sanflags -o "$TMP/echo_prefix" "$SRC/examples/echo_prefix.c" $flags 2>"$TMP/cc.log" || {
    cat "$TMP/cc.log" >&2
    fail "$CC examples/echo_prefix.c \$(pkg-config --cflags --libs sockserv) failed"
}
if grep -E '(echo_prefix\.c|sockserv\.h):[0-9]+:[0-9]+: (warning|error)' "$TMP/cc.log" >&2; then
    problem "compiler warnings building examples/echo_prefix.c against the installed header"
fi
python3 - "$TMP/echo_prefix" <<'EOF' || problem "the example is not linked against libsockserv.so.0"
import sys
data = open(sys.argv[1], "rb").read()
sys.exit(0 if b"libsockserv.so.0\0" in data else 1)
EOF

# 5. Run it on an ephemeral port with the installed library, talk to it, stop it.
: >"$TMP/out"
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$TMP/echo_prefix" tcp://127.0.0.1:0 >"$TMP/out" 2>"$TMP/err" &
PID=$!
i=0
while :; do
    if [ "$(wc -l <"$TMP/out")" -ge 1 ]; then break; fi
    kill -0 "$PID" 2>/dev/null || { cat "$TMP/err" >&2; PID=; fail "echo_prefix exited before its ready line"; }
    i=$((i + 1))
    [ "$i" -le 200 ] || { cat "$TMP/err" >&2; fail "no ready line from echo_prefix within 10 s"; }
    sleep 0.05
done
line=$(head -n 1 "$TMP/out")
case $line in
    "listening on tcp://127.0.0.1:"*) ;;
    *) fail "unexpected ready line: '$line'" ;;
esac
port=${line##*:}
case $port in
    '' | 0 | *[!0-9]*) fail "port not resolved in the ready line: '$line'" ;;
esac
note "$line"

python3 - "$port" <<'EOF' || problem "echo_prefix did not answer as expected"
import socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.settimeout(10)
want = b""
for text in (b"hello pkg-config", b"second line"):
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
print("test_pkgconfig: echo_prefix replied %r" % got.split(b"\n")[0])
EOF

kill -TERM "$PID" 2>/dev/null || fail "echo_prefix died before SIGTERM"
i=0
while kill -0 "$PID" 2>/dev/null; do
    # A zombie still answers kill -0: stop waiting once it is one.
    case $(cut -d' ' -f3 "/proc/$PID/stat" 2>/dev/null) in Z | X) break ;; esac
    i=$((i + 1))
    if [ "$i" -gt 200 ]; then
        kill -9 "$PID" 2>/dev/null
        fail "echo_prefix still running 10 s after SIGTERM"
    fi
    sleep 0.05
done
wait "$PID"
code=$?
PID=
[ "$code" -eq 0 ] || { cat "$TMP/err" >&2; problem "echo_prefix exited with $code after SIGTERM, expected 0"; }

# 6. The static library alone is enough too (no shared library at run time).
# shellcheck disable=SC2046
$CC -std=c11 $sanflags -o "$TMP/echo_prefix_static" "$SRC/examples/echo_prefix.c" \
    $(PKG_CONFIG_PATH=$pcdir pkg-config --define-variable=prefix="$PREFIX" --cflags sockserv) \
    "$libdir/libsockserv.a" -pthread 2>"$TMP/cc-static.log" || {
    cat "$TMP/cc-static.log" >&2
    problem "linking examples/echo_prefix.c with libsockserv.a failed"
}
if [ -x "$TMP/echo_prefix_static" ]; then
    "$TMP/echo_prefix_static" tcp://127.0.0.1:0 no-such-mode >/dev/null 2>&1
    [ $? -eq 2 ] || problem "the statically linked example does not run (expected its usage error, exit 2)"
fi

if [ "$status" -ne 0 ]; then
    echo "test_pkgconfig: FAILED" >&2
    exit 1
fi
echo "test_pkgconfig: all checks passed"
exit 0
