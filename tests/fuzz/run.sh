#!/bin/sh
# run.sh: runs each libFuzzer target of a make-fuzz build for a set time on its seed corpus; fails on any crash, leak or sanitizer report.
# Usage: run.sh BUILD_DIR [SECONDS_PER_TARGET] | run.sh --check (can clang build a libFuzzer program?)
set -eu
here=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" = --check ]; then
    if ! command -v clang >/dev/null; then
        echo "make fuzz: clang not found: apt-get install clang libclang-rt-14-dev" >&2
        exit 1
    fi
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return (int)(d == NULL && n > 0); }' >"$tmp/t.c"
    if ! clang -fsanitize=fuzzer "$tmp/t.c" -o "$tmp/t" 2>"$tmp/err"; then
        sed 's/^/  /' "$tmp/err" >&2
        echo "make fuzz: the libFuzzer runtime is missing (clang -fsanitize=fuzzer cannot link): apt-get install libclang-rt-14-dev" >&2
        exit 1
    fi
    exit 0
fi

build=${1:?usage: run.sh BUILD_DIR [SECONDS] | run.sh --check}
seconds=${2:-60}
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
failed=""
for t in url reader chat_line datagram proxy http tls room; do
    exe="$build/tests/fuzz/fuzz_$t"
    if [ "$t" = tls ] && [ ! -x "$exe" ]; then
        echo "== fuzz_tls: skipped: the library was built without TLS (OpenSSL 3): apt-get install libssl-dev"
        continue
    fi
    work="$build/fuzz/corpus/$t"         # inputs found here; the seeds stay untouched
    artifacts="$build/fuzz/artifacts/$t"
    log="$build/fuzz/$t.log"
    mkdir -p "$work" "$artifacts"
    case $t in
    url) extra="-max_len=512 -dict=$here/url.dict" ;;
    proxy) extra="-max_len=1024" ;;
    http) extra="-max_len=32768 -dict=$here/http.dict" ;;
    tls) extra="-max_len=32768 -dict=$here/tls.dict" ;;
    *) extra="-max_len=32768" ;;
    esac
    echo "== fuzz_$t: $seconds s on $here/corpus/$t (log $log)"
    # shellcheck disable=SC2086 # $extra is a list of options
    if "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" $extra "$work" "$here/corpus/$t" >"$log" 2>&1 &&
        ! grep -Eq 'ERROR: [A-Za-z]+Sanitizer|runtime error:|ERROR: libFuzzer' "$log"; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
        cov=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 | sed -E 's/.*(cov: [0-9]+ ft: [0-9]+ corp: [^ ]+).*/\1/')
        echo "   ok: $runs runs, $speed/s, $cov, peak RSS ${rss} MB"
    else
        failed="$failed $t"
        echo "   FAILED: fuzz_$t (reproducer, if any, in $artifacts/):" >&2
        tail -n 60 "$log" >&2
    fi
done
if [ -n "$failed" ]; then
    echo "fuzzing failed:$failed" >&2
    exit 1
fi
echo "fuzzing: all targets ran $seconds s each without a finding"
