#!/bin/sh
# test_ldconfig.sh: the install step's ldconfig decision (cmake/sockserv_ldconfig.cmake), against a fake loader configuration and a fake ldconfig.
# usage: sh tests/install/test_ldconfig.sh SOURCE_DIR
# Nothing of the system is touched: the script runs with `cmake -P` and its test overrides
# (SS_LD_SO_CONF, SS_LDCONFIG, SS_LDCONFIG_UID); the fake ldconfig only leaves a mark.
set -u
SRC=${1:?usage: test_ldconfig.sh SOURCE_DIR}
TEST=test_ldconfig
. "$SRC/tests/install/common.sh"

SCRIPT=$SRC/cmake/sockserv_ldconfig.cmake
[ -f "$SCRIPT" ] || fail "$SCRIPT missing"

# A loader configuration like Debian's: one file including a directory of others.
mkdir -p "$TMP/etc/ld.so.conf.d" "$TMP/listed/lib" "$TMP/other/lib" "$TMP/bin"
printf '# the loader configuration\ninclude %s/etc/ld.so.conf.d/*.conf\n' "$TMP" >"$TMP/etc/ld.so.conf"
printf '# libc default configuration\n%s/listed/lib\n' "$TMP" >"$TMP/etc/ld.so.conf.d/libc.conf"
printf '#!/bin/sh\necho ran >"%s/mark"\n' "$TMP" >"$TMP/bin/ldconfig"
printf '#!/bin/sh\necho "ldconfig: cannot write the cache" >&2\nexit 1\n' >"$TMP/bin/ldconfig-fails"
chmod +x "$TMP/bin/ldconfig" "$TMP/bin/ldconfig-fails"

UID_AS=0
LDCONFIG=$TMP/bin/ldconfig
CONF=$TMP/etc/ld.so.conf

# decide WHAT EXPECT PREFIX [-D... | env ...]: run the install-time script for a library in
# PREFIX/lib; EXPECT is "runs" or "skips" (ldconfig run or not); the script must succeed either way.
decide() {
    what=$1
    expect=$2
    prefix=$3
    shift 3
    rm -f "$TMP/mark"
    env "$@" cmake -DCMAKE_INSTALL_PREFIX="$prefix" -DSS_LIBDIR=lib \
        -DSS_LD_SO_CONF="$CONF" -DSS_LDCONFIG="$LDCONFIG" \
        -DSS_LDCONFIG_UID="$UID_AS" -P "$SCRIPT" >"$TMP/log" 2>&1
    rc=$?
    [ "$rc" -eq 0 ] || { cat "$TMP/log" >&2; problem "$what: the install step failed ($rc): it must never fail"; }
    if [ -f "$TMP/mark" ]; then ran=runs; else ran=skips; fi
    if [ "$ran" = "$expect" ]; then
        note "$what: ldconfig $ran: $(head -c 160 "$TMP/log" | tr '\n' ' ')"
    else
        cat "$TMP/log" >&2
        problem "$what: ldconfig $ran, expected it to be $( [ "$expect" = runs ] && echo run || echo skipped)"
    fi
}

decide "a libdir listed in an included conf file, as root" runs "$TMP/listed"
ln -s "$TMP/listed" "$TMP/link-to-listed" || fail "cannot make a symlink in $TMP"
decide "a listed libdir reached through a symlink" runs "$TMP/link-to-listed"
decide "a libdir the loader does not search" skips "$TMP/other"
grep -q -- '-Wl,-rpath,' "$TMP/log" && grep -q 'LD_LIBRARY_PATH' "$TMP/log" && grep -q 'libsockserv\.a' "$TMP/log" ||
    problem "for a libdir outside the loader's path the install should name the three ways out (rpath, LD_LIBRARY_PATH, libsockserv.a): $(cat "$TMP/log")"
UID_AS=1000
decide "a listed libdir, not root" skips "$TMP/listed"
UID_AS=0
grep -q 'sudo ldconfig' "$TMP/log" || problem "not root: the install should say to run 'sudo ldconfig': $(cat "$TMP/log")"
decide "a listed libdir, staged (DESTDIR)" skips "$TMP/listed" DESTDIR="$TMP/dest"
decide "/usr/lib (always searched)" runs /usr
LDCONFIG=$TMP/bin/no-such-ldconfig
decide "no ldconfig" skips "$TMP/listed"
grep -q 'ldconfig not found' "$TMP/log" || problem "a missing ldconfig should be reported: $(cat "$TMP/log")"
LDCONFIG=$TMP/bin/ldconfig-fails
decide "a failing ldconfig" skips "$TMP/listed"
grep -q 'cannot write the cache' "$TMP/log" || problem "a failing ldconfig's message should be shown: $(cat "$TMP/log")"

# This system's own configuration: Debian's lists /usr/local/lib (in ld.so.conf.d/libc.conf),
# the default PREFIX of `make install`.
if grep -qsx '/usr/local/lib' /etc/ld.so.conf /etc/ld.so.conf.d/*.conf; then
    CONF=/etc/ld.so.conf
    LDCONFIG=$TMP/bin/ldconfig
    decide "/usr/local/lib with this system's /etc/ld.so.conf" runs /usr/local
else
    note "this system's /etc/ld.so.conf does not list /usr/local/lib: not checked against it"
fi

finish
