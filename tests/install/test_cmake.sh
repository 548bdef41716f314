#!/bin/sh
# test_cmake.sh: install the build into a temp prefix, move the prefix, then build and run a CMake project against it with find_package(sockserv).
# usage: sh tests/install/test_cmake.sh BUILD_DIR SOURCE_DIR
# Needs only cmake, cc, python3 and a POSIX sh. The project is tests/install/cmake_consumer/:
# examples/echo_prefix.c linked with sockserv::sockserv and with sockserv::sockserv_static.
set -u
BUILD=${1:?usage: test_cmake.sh BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: test_cmake.sh BUILD_DIR SOURCE_DIR}
CC=${CC:-cc}
TEST=test_cmake
. "$SRC/tests/install/common.sh"

# 1. Install, then move the prefix elsewhere: the package must follow (relocatable).
STAGE=$TMP/stage
PREFIX=$TMP/moved
install_build "$BUILD" "$STAGE"
config=$(find "$STAGE" -path '*/cmake/sockserv/sockservConfig.cmake' | head -n 1)
[ -n "$config" ] || fail "sockservConfig.cmake not installed under $STAGE (looked for */cmake/sockserv/sockservConfig.cmake)"
pkgdir=$(dirname "$config")
for f in sockservConfigVersion.cmake sockservTargets.cmake; do
    [ -f "$pkgdir/$f" ] || problem "$f not installed next to sockservConfig.cmake (in ${pkgdir#"$STAGE"/})"
done
if grep -l -F "$STAGE" "$pkgdir"/*.cmake >&2; then
    problem "the installed package names the install prefix $STAGE (above): it would break once the files move"
fi
note "package: ${pkgdir#"$STAGE"/}"
mv "$STAGE" "$PREFIX" || fail "cannot move $STAGE to $PREFIX"
libdir=$(dirname "$(dirname "${pkgdir#"$STAGE"/}")")
libdir=$PREFIX/$libdir

# 2. Configure the consumer project against the moved prefix.
sanflags=$(sanitizer_flags "$BUILD")
[ -z "$sanflags" ] || note "sanitizer build: adding $sanflags"
# configure DIR [-D...]: the consumer project configured in DIR; its output in DIR.log.
configure() {
    dir=$1
    shift
    cmake -S "$SRC/tests/install/cmake_consumer" -B "$dir" -DCMAKE_PREFIX_PATH="$PREFIX" \
        -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="-Wall -Wextra $sanflags" -DCMAKE_CXX_FLAGS="$sanflags" \
        -DCMAKE_EXE_LINKER_FLAGS="$sanflags" -DSS_APP="$SRC/examples/echo_prefix.c" "$@" >"$dir.log" 2>&1
}
APP=$TMP/consumer
cxx=$(ls "$SRC"/examples/*.cpp 2>/dev/null | head -n 1)
configure "$APP" ${cxx:+-DSS_CXX_APP="$cxx"} || {
    cat "$APP.log" >&2
    fail "find_package(sockserv 0.1) failed with CMAKE_PREFIX_PATH=$PREFIX (log above)"
}
found=$(sed -n 's/^sockserv_DIR:[A-Z]*=//p' "$APP/CMakeCache.txt")
note "find_package(sockserv 0.1) found $found"
case $found in
    "$PREFIX"/*) ;;
    *) problem "find_package(sockserv) found $found, not the package under $PREFIX" ;;
esac

# A different major version is refused (SameMajorVersion): 0.1.0 does not satisfy 1.0.
if configure "$TMP/consumer-v1" -DSS_WANT_VERSION=1.0; then
    problem "find_package(sockserv 1.0) accepted version 0.1.0 (sockservConfigVersion.cmake should require the same major version)"
elif ! grep -q 'compatible with requested version' "$TMP/consumer-v1.log"; then
    cat "$TMP/consumer-v1.log" >&2
    problem "find_package(sockserv 1.0) failed, but not for its version (log above)"
else
    note "find_package(sockserv 1.0) refused, as it should be"
fi

# The rule itself, from the installed sockservConfigVersion.cmake: 0.0 is accepted (not
# SameMinorVersion or ExactVersion), and the same file made for a 2.0.0 release refuses a
# request for 1.0 (not AnyNewerVersion: a 0.x release cannot show that difference).
printf 'include("${VERSION_FILE}")\nmessage("${PACKAGE_VERSION_COMPATIBLE}")\n' >"$TMP/compatible.cmake"
# compatible VERSION_FILE REQUEST: what the version file answers to find_package(sockserv REQUEST).
compatible() {
    cmake -DVERSION_FILE="$1" -DPACKAGE_FIND_NAME=sockserv -DPACKAGE_FIND_VERSION="$2" \
        -DPACKAGE_FIND_VERSION_MAJOR="${2%%.*}" -DPACKAGE_FIND_VERSION_MINOR="${2#*.}" \
        -DPACKAGE_FIND_VERSION_PATCH=0 -DCMAKE_SIZEOF_VOID_P=8 -P "$TMP/compatible.cmake" 2>&1
}
vfile=$PREFIX/${pkgdir#"$STAGE"/}/sockservConfigVersion.cmake
sed 's/"0\.1\.0"/"2.0.0"/g' "$vfile" >"$TMP/v2.cmake" || fail "cannot read $vfile"
[ "$(compatible "$vfile" 0.0)" = TRUE ] ||
    problem "sockservConfigVersion.cmake refuses a request for 0.0: not SameMajorVersion"
[ "$(compatible "$TMP/v2.cmake" 1.0)" != TRUE ] ||
    problem "sockservConfigVersion.cmake, made for 2.0.0, accepts a request for 1.0: not SameMajorVersion"
[ "$(compatible "$TMP/v2.cmake" 2.0)" = TRUE ] ||
    problem "sockservConfigVersion.cmake, made for 2.0.0, refuses a request for 2.0: $(compatible "$TMP/v2.cmake" 2.0)"
note "version rule: SameMajorVersion (0.0 accepted; for a 2.0.0, 1.0 refused and 2.0 accepted)"

# 3. Build: the shared and the static target (and the C++ example when there is a C++ compiler).
cmake --build "$APP" >"$APP-build.log" 2>&1 || {
    cat "$APP-build.log" >&2
    fail "building the consumer project (sockserv::sockserv, sockserv::sockserv_static) failed (log above)"
}
if grep -E '(echo_prefix\.c|sockserv\.h):[0-9]+:[0-9]+: warning' "$APP-build.log" >&2; then
    problem "compiler warnings building the consumer project"
fi
if [ -n "$cxx" ]; then
    if [ -x "$APP/app_cxx" ]; then
        note "built $(basename "$cxx") with sockserv::sockserv"
    else
        note "no C++ compiler: $(basename "$cxx") not built against the package"
    fi
fi

# 4. sockserv::sockserv: the program loads libsockserv.so.0 from the moved prefix (CMake's
# build rpath), with no LD_LIBRARY_PATH, and talks.
needs_lib "$APP/app_shared" || problem "app_shared (sockserv::sockserv) does not load libsockserv.so.0"
start_server "app_shared (no LD_LIBRARY_PATH)" env -u LD_LIBRARY_PATH "$APP/app_shared" tcp://127.0.0.1:0
loaded=$(grep -o '/[^ ]*libsockserv\.so[^ ]*' "/proc/$PID/maps" | head -n 1)
case $loaded in
    "$libdir"/*) note "app_shared loaded $loaded" ;;
    *) problem "app_shared loaded '$loaded', not the library in $libdir" ;;
esac
talk_echo_prefix "app_shared"
stop_server "app_shared"

# 5. sockserv::sockserv_static: no shared library at run time.
if needs_lib "$APP/app_static"; then
    problem "app_static (sockserv::sockserv_static) loads libsockserv.so.0"
fi
start_server "app_static" env -u LD_LIBRARY_PATH "$APP/app_static" tcp://127.0.0.1:0
talk_echo_prefix "app_static"
stop_server "app_static"

finish
