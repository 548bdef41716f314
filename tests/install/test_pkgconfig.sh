#!/bin/sh
# test_pkgconfig.sh: install the build into a temp prefix, then build and run a program against it the ways README.md shows with pkg-config.
# usage: sh tests/install/test_pkgconfig.sh BUILD_DIR SOURCE_DIR
# Needs only cmake, cc, pkg-config (pkgconf), python3 and a POSIX sh: no readelf, nc or socat.
# The program is examples/echo_prefix.c as app.c; the build lines are README.md's own
# ("cc app.c ..." lines: shared, shared with an rpath, static), so the README stays true.
set -u
BUILD=${1:?usage: test_pkgconfig.sh BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: test_pkgconfig.sh BUILD_DIR SOURCE_DIR}
CC=${CC:-cc}
TEST=test_pkgconfig
. "$SRC/tests/install/common.sh"

# 1. Install. The install step's last part (cmake/sockserv_ldconfig.cmake) must have said
# that a temp prefix is not where the loader looks.
PREFIX=$TMP/prefix
install_build "$BUILD" "$PREFIX"
grep -q "is not in the loader's search path" "$TMP/install.log" ||
    problem "the install did not say that $PREFIX is not in the loader's search path (is cmake/sockserv_ldconfig.cmake run by install(CODE)?): $(cat "$TMP/install.log")"

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

# 4. README.md's build lines, run as written (cc replaced by $CC, plus warnings and any sanitizer).
sanflags=$(sanitizer_flags "$BUILD")
[ -z "$sanflags" ] || note "sanitizer build: adding $sanflags"
grep -E '^cc app\.c ' "$SRC/README.md" >"$TMP/readme-lines"
plain=$(grep -v -e 'rpath' -e 'libsockserv\.a' "$TMP/readme-lines" | head -n 1)
rpath=$(grep -e '-Wl,-rpath,' "$TMP/readme-lines" | head -n 1)
static=$(grep -e 'libsockserv\.a' "$TMP/readme-lines" | head -n 1)
[ -n "$plain" ] || fail "README.md shows no plain 'cc app.c ... \$(pkg-config --cflags --libs sockserv)' line"
[ -n "$rpath" ] || fail "README.md shows no 'cc app.c ...' line with -Wl,-rpath,\$(pkg-config --variable=libdir sockserv)"
[ -n "$static" ] || fail "README.md shows no 'cc app.c ...' line that links libsockserv.a"
mkdir "$TMP/app" && cp "$SRC/examples/echo_prefix.c" "$TMP/app/app.c" || fail "cannot copy examples/echo_prefix.c"

# build_app NAME LINE: run README's LINE in $TMP/app, the result moved to $TMP/app/NAME.
build_app() {
    cmd="$CC -std=c11 -Wall -Wextra $sanflags ${2#cc }"
    note "$1: $2"
    (cd "$TMP/app" && PKG_CONFIG_PATH=$pcdir sh -c "$cmd") >"$TMP/cc-$1.log" 2>&1 || {
        cat "$TMP/cc-$1.log" >&2
        problem "README's $1 build line failed: $2"
        return 1
    }
    if grep -E '(app\.c|sockserv\.h):[0-9]+:[0-9]+: (warning|error)' "$TMP/cc-$1.log" >&2; then
        problem "compiler warnings building echo_prefix.c against the installed header ($1)"
    fi
    mv "$TMP/app/app" "$TMP/app/$1" || fail "README's $1 build line made no ./app"
}

# 4a. Shared: found through LD_LIBRARY_PATH, and (as the README says) not without it.
if build_app shared "$plain"; then
    needs_lib "$TMP/app/shared" || problem "the shared build does not load libsockserv.so.0"
    env -u LD_LIBRARY_PATH "$TMP/app/shared" tcp://127.0.0.1:0 >"$TMP/no-path.out" 2>"$TMP/no-path.err"
    grep -q 'libsockserv\.so\.0: cannot open shared object file' "$TMP/no-path.err" ||
        problem "without LD_LIBRARY_PATH or an rpath the shared build should not find libsockserv.so.0 in a temp prefix (the README says so); it printed: $(cat "$TMP/no-path.err")"
    start_server "shared build (LD_LIBRARY_PATH)" env LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$TMP/app/shared" tcp://127.0.0.1:0
    talk_echo_prefix "the shared build"
    stop_server "the shared build"
fi

# 4b. Shared with an rpath: runs with no LD_LIBRARY_PATH at all.
if build_app rpath "$rpath"; then
    needs_lib "$TMP/app/rpath" || problem "the rpath build does not load libsockserv.so.0"
    start_server "rpath build (no LD_LIBRARY_PATH)" env -u LD_LIBRARY_PATH "$TMP/app/rpath" tcp://127.0.0.1:0
    talk_echo_prefix "the rpath build"
    stop_server "the rpath build"
fi

# 4c. Static: no shared library at run time.
if build_app static "$static"; then
    if needs_lib "$TMP/app/static"; then
        problem "README's static line still links libsockserv.so.0: $static"
    fi
    start_server "static build (no LD_LIBRARY_PATH)" env -u LD_LIBRARY_PATH "$TMP/app/static" tcp://127.0.0.1:0
    talk_echo_prefix "the static build"
    stop_server "the static build"
fi

# 5. Every C example builds outside the tree, against the installed header, without a warning.
for ex in "$SRC"/examples/*.c; do
    name=$(basename "$ex" .c)
    # shellcheck disable=SC2086 # $flags is a list of words
    $CC -std=c11 -Wall -Wextra $sanflags -o "$TMP/ex-$name" "$ex" $flags >"$TMP/ex-$name.log" 2>&1 || {
        cat "$TMP/ex-$name.log" >&2
        problem "examples/$name.c does not build with \$(pkg-config --cflags --libs sockserv)"
        continue
    }
    if grep -E ': (warning|error)' "$TMP/ex-$name.log" >&2; then
        problem "examples/$name.c: compiler warnings outside the tree (-std=c11 -Wall -Wextra)"
    fi
done
note "examples built against the installed library: $(cd "$SRC/examples" && ls -- *.c | tr '\n' ' ')"

finish
