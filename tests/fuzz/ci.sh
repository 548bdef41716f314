#!/bin/sh
# ci.sh: fuzzing in CI: installs clang's libFuzzer runtime when missing, then runs make fuzz for SECONDS (default 30) per target.
set -eu
cd "$(dirname "$0")/../.."
seconds=${1:-30}
if ! tests/fuzz/run.sh --check 2>/dev/null; then
    echo "== installing clang and the libFuzzer runtime (libclang-rt-14-dev)"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q
    $sudo apt-get install -y -q clang libclang-rt-14-dev
fi
make fuzz FUZZ_SECONDS="$seconds"
