#!/usr/bin/env bash
# lint.sh: cppcheck and clang-tidy over the C sources (src, tools, examples, tests, bench); non-zero on any finding.
#
# Usage: tools/check/lint.sh [BUILD_DIR]      (default: build; `make lint` passes $(BUILD))
# The compile database BUILD_DIR/compile_commands.json gives each file its flags;
# it is made by configuring with CMake when missing. Checks: .clang-tidy at the
# top of the tree; cppcheck with the suppressions in tools/check/.
# Environment: JOBS (default: nproc), CPPCHECK, CLANG_TIDY (the programs to run).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
cppcheck=${CPPCHECK:-cppcheck}
clang_tidy=${CLANG_TIDY:-clang-tidy}

for tool in "$cppcheck" "$clang_tidy" python3; do
    command -v "$tool" >/dev/null || { echo "lint: $tool not found (apt-get install cppcheck clang-tidy)" >&2; exit 2; }
done
echo "lint: $("$cppcheck" --version); clang-tidy $("$clang_tidy" --version | sed -n 's/.*LLVM version \([0-9.]*\).*/\1/p')"

if [ ! -f "$build/compile_commands.json" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null || exit 2
fi

# One entry per C file of ours. CMake lists tests/unit/harness.c once per test
# program: clang-tidy would analyse it a dozen times, and clang-analyzer 14
# reports false va_list findings when one process analyses a file repeatedly.
out=$build/lint
mkdir -p "$out"
python3 - "$build/compile_commands.json" "$out/compile_commands.json" "$root" <<'EOF' || exit 2
import json, os, sys
src, dst, root = sys.argv[1:4]
seen, keep = set(), []
for e in json.load(open(src)):
    f = os.path.normpath(os.path.join(e["directory"], e["file"]))
    rel = os.path.relpath(f, root)
    if f in seen or not f.endswith(".c") or rel.split(os.sep)[0] not in ("src", "tools", "examples", "tests", "bench"):
        continue
    seen.add(f)
    keep.append(dict(e, file=f))
json.dump(keep, open(dst, "w"), indent=1)
EOF
mapfile -t files < <(python3 -c 'import json,sys; print("\n".join(e["file"] for e in json.load(open(sys.argv[1]))))' "$out/compile_commands.json")
echo "lint: ${#files[@]} files"

# cppcheck: the coroutine switch is per architecture; check the branch this machine builds.
case $(uname -m) in
    aarch64|arm64) arch=-D__aarch64__ ;;
    *) arch=-D__x86_64__ ;;
esac
t0=$SECONDS
"$cppcheck" --project="$out/compile_commands.json" "$arch" --library=posix --library=gnu \
    --enable=warning,style,performance,portability --inline-suppr \
    --suppressions-list="$root/tools/check/cppcheck-suppressions.txt" \
    --error-exitcode=1 -j "$jobs" --quiet \
    --template='{file}:{line}:{column}: {severity}: {message} [{id}]' 2>"$out/cppcheck.txt"
cppcheck_rc=$?
cppcheck_n=$(grep -c ': \(error\|warning\|style\|performance\|portability\): ' "$out/cppcheck.txt")
cat "$out/cppcheck.txt"
echo "lint: cppcheck: $cppcheck_n findings ($((SECONDS - t0)) s)"

# clang-tidy: one process per file, in parallel; every enabled check is an error.
t0=$SECONDS
printf '%s\n' "${files[@]}" |
    xargs -P "$jobs" -I{} sh -c 'log="$2/tidy.$(printf %s "$3" | tr / _).txt"
        "$1" -p "$2" --quiet --extra-arg=-Wno-unknown-warning-option "$3" >"$log" 2>&1 || echo "$3" >>"$2/tidy.failed"' sh "$clang_tidy" "$out" {}
grep -h -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error): ' "$out"/tidy.*.txt 2>/dev/null | sort -u >"$out/clang-tidy.txt"
tidy_n=$(wc -l <"$out/clang-tidy.txt")
tidy_failed=0
if [ -f "$out/tidy.failed" ]; then
    tidy_failed=$(wc -l <"$out/tidy.failed")
    for f in $(cat "$out/tidy.failed"); do
        grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter|^Error while processing' \
            "$out/tidy.$(printf %s "$f" | tr / _).txt"
    done
fi
rm -f "$out"/tidy.*.txt "$out/tidy.failed"
echo "lint: clang-tidy: $tidy_n findings, $tidy_failed of ${#files[@]} files failing ($((SECONDS - t0)) s)"

if [ "$cppcheck_rc" -ne 0 ] || [ "$tidy_failed" -ne 0 ]; then
    echo "lint: FAILED (cppcheck $cppcheck_n, clang-tidy $tidy_n; lists in $out/)"
    exit 1
fi
echo "lint: clean"
