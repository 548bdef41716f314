#!/usr/bin/env bash
# valgrind.sh: a representative subset under valgrind memcheck (unit tests of every strategy and transport, the sockserv program over real connections); fails on any memory error or leak.
#
# Usage: tools/check/valgrind.sh [BUILD_DIR]      (default: build; `make valgrind` passes $(BUILD))
# Environment: VALGRIND (the program), VG_UNIT / VG_CLI (override the lists below).
#
# Every process gets its own log (BUILD_DIR/valgrind/NAME.PID.log), and the logs,
# not exit codes, decide: a process forked by the library (the forking strategy)
# reports to nobody. Memory errors count in every process. Leaks count in every
# process except those a unit-test case forks (the forking strategy's children,
# forked by a serving thread): the case's main thread does not exist in such a
# child, so its stack is not scanned and whatever only it pointed to (the
# serving thread's own TLS, the test's buffers) looks lost. The program serves on its main thread:
# its children are leak-checked like any process. No suppression is needed: the
# "unhandled syscall 434" warnings (valgrind 3.19 lacks pidfd_open; the forking
# strategy falls back to polling waitpid) are not errors.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
valgrind=${VALGRIND:-valgrind}
command -v "$valgrind" >/dev/null || { echo "valgrind.sh: $valgrind not found (apt-get install valgrind)" >&2; exit 2; }
[ -x "$build/sockserv" ] || { echo "valgrind.sh: no $build/sockserv: build first (make build)" >&2; exit 2; }

# Unit test programs, each with the cases left out (an extended regex, or -).
#   test_server        every strategy: serve, handle_request, verify, shutdown
#   test_stream_io     the buffered reader and writer over TCP and Unix sockets
#   test_datagram      UDP and Unix datagrams in every strategy
#   test_pool          workers, the bounded queue, drain
#   test_event         coroutines, the loops, timers, run_blocking; less the stack
#                      overflow cases, which fault on purpose
#   test_shutdown      drain and close in every strategy, forked children; less the
#                      300 children beyond the watched pidfds (300 copies of valgrind,
#                      and valgrind lacks pidfd_open: the case it tests never arises)
#   test_lifecycle, test_cpython_port, test_unix, test_ipv6: the request's life,
#                      CPython's socketserver tests, Unix and IPv6 addresses
#   test_fds           close-on-exec and fd leaks; less the case that checks every
#                      fd of a forked child (valgrind's own log fd is one of them)
#   test_limits        URL and config errors; less the EMFILE cases (valgrind keeps
#                      descriptors of its own under the limit they lower) and the
#                      RSS measurements (valgrind's shadow memory is in them)
#   test_tls           TLS in every strategy: handshakes, failures, reload, resumption
#                      (every case skipped, exit 77, when built without OpenSSL); less
#                      the first reply's latency, a time valgrind's slowness is in, and
#                      reload_while_forking, a stress of forks racing a thread that
#                      builds contexts without pause: under valgrind a forked child's
#                      handshake outlasts the client's 10 s limit (its memory is covered
#                      by the reload and forking cases)
#   test_proxy, test_adopt: PROXY headers in every strategy, address ranges; sockets
#                      made elsewhere, socket activation
#   test_observe       bytes, durations and the log in every strategy; less the EMFILE
#                      back-off cases (as test_limits)
default_unit='
test_server -
test_stream_io -
test_datagram -
test_pool -
test_event ^stack_overflow_
test_shutdown ^max_children_beyond_the_watched_pidfds$
test_lifecycle -
test_cpython_port -
test_unix -
test_ipv6 -
test_fds ^cloexec_in_forked_child$
test_limits ^(emfile_|.*_memory_flat$)
test_tls ^(first_reply_|reload_while_forking$)
test_proxy -
test_adopt -
test_observe ^log_accept_backoff
'
# Black-box tests of the program (tests/cli), the binary under valgrind.
default_cli='
test_echo.py EveryModeEveryTransport.test_matrix EchoDatagram.test_each_sender_gets_its_own EchoStream.test_pipelined_lines Junk.test_junk_and_resets
test_chat.py Modes.test_concurrent_modes Modes.test_sync_one_client_at_a_time Delivery.test_everyone_gets_every_line_sender_included Leaving.test_quit_with_whitespace_ends_that_client
test_tls.py Chat.test_every_mode FailedHandshakes.test_bad_clients_every_mode MutualTls.test_client_certificates
test_listeners.py Several.test_echo_on_every_listener_every_mode Several.test_chat_one_room_for_every_listener Activation.test_passed_sockets_served_instead_of_binding
test_proxy_cli.py Proxy.test_echo_after_the_header Proxy.test_refused_headers_counted_and_reported Proxy.test_header_before_tls
test_processes.py Start.test_ready_once_when_every_worker_serves Reload.test_held_connection_stays_with_its_old_worker Counters.test_sigusr1_sums_the_workers
test_metrics.py Counts.test_traffic_counted_exactly_in_every_mode Http.test_answers_to_other_requests Http.test_oversized_request Processes.test_supervisor_sums_workers_and_never_goes_back
test_room.py Shared.test_two_processes Shared.test_garbage_on_the_channel Outage.test_kill_and_restart Processes.test_two_workers_one_room Credentials.test_password_and_acl_user_share_one_room Credentials.test_refused_says_why_and_serves_locally
test_logs.py JsonFormat.test_verbose_json_in_every_mode JsonFormat.test_client_chosen_names_stay_inside_their_string Levels.test_quiet_prints_errors_only Console.test_console_stats Journal.test_json_lines_carry_their_priority
'
unit=${VG_UNIT:-$default_unit}
cli=${VG_CLI:-$default_cli}

logs=$build/valgrind
rm -rf "$logs"
mkdir -p "$logs"
vg_opts=(--tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect,possible
         --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99
         --track-fds=no --trace-children=yes --num-callers=30)
echo "valgrind.sh: $("$valgrind" --version); logs in $logs"

failed=0
t_all=$SECONDS
while read -r prog skip; do
    [ -n "$prog" ] || continue
    exe=$build/tests/$prog
    [ -x "$exe" ] || { echo "valgrind.sh: no $exe" >&2; failed=1; continue; }
    cases=()
    if [ "$skip" != "-" ]; then
        mapfile -t cases < <("$exe" --list | grep -E -v "$skip")
    fi
    t0=$SECONDS
    # The unit timeouts are for native speed.
    SS_TEST_TIMEOUT_MULT=6 "$valgrind" "${vg_opts[@]}" --log-file="$logs/unit-$prog.%p.log" \
        "$exe" "${cases[@]}" >"$logs/unit-$prog.out" 2>&1
    rc=$?
    echo "valgrind.sh: $prog: $(tail -n 1 "$logs/unit-$prog.out") (exit $rc, $((SECONDS - t0)) s)"
    if [ "$rc" -eq 77 ]; then  # every case skipped here (the reason is in the line above): not a failure
        :
    elif [ "$rc" -ne 0 ]; then
        grep -E '^FAIL ' "$logs/unit-$prog.out"
        failed=1
    fi
done <<<"$unit"

# The program: a wrapper that runs it under valgrind, for the Python harness.
wrapper=$logs/sockserv-vg
{
    echo '#!/bin/sh'
    printf 'exec'
    printf ' %q' "$valgrind" "${vg_opts[@]}" "--log-file=$logs/cli.%p.log" "$build/sockserv"
    echo ' "$@"'
} >"$wrapper"
chmod +x "$wrapper"
while read -r script tests; do
    [ -n "$script" ] || continue
    t0=$SECONDS
    # shellcheck disable=SC2086 # the test names are words
    SOCKSERV_BIN=$wrapper SOCKSERV_EXAMPLES=$build/examples SOCKSERV_TEST_SLOW=3 PYTHONDONTWRITEBYTECODE=1 \
        python3 "$root/tests/cli/$script" $tests >"$logs/cli-${script%.py}.out" 2>&1
    rc=$?
    echo "valgrind.sh: $script: $(grep -E '^(Ran|OK|FAILED|SKIPPED)' "$logs/cli-${script%.py}.out" | tr '\n' ' ')(exit $rc, $((SECONDS - t0)) s)"
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
        tail -n 40 "$logs/cli-${script%.py}.out"
        failed=1
    fi
done <<<"$cli"

# The verdict, from the logs.
python3 - "$logs" <<'EOF' || failed=1
import collections, glob, os, re, sys

logs = sys.argv[1]
procs = {}
for path in sorted(glob.glob(os.path.join(logs, "*.log"))):
    text = open(path, errors="replace").read()
    m = re.match(r"(.+)\.(\d+)\.log$", os.path.basename(path))
    group, pid = m.group(1), int(m.group(2))
    parent = re.search(r"^==\d+== Parent PID: (\d+)", text, re.M)
    summary = re.search(r"^==\d+== ERROR SUMMARY: (\d+) errors", text, re.M)
    records = re.split(r"^==\d+== \n", text, flags=re.M)
    leaks = sum(1 for r in records if re.search(r"are (?:definitely|indirectly|possibly) lost in loss record", r))
    # In a process forked by one thread of several, the other threads do not
    # exist: their thread-local blocks (allocate_dtv) can never be freed, nor
    # can a request another listener's serving thread had just accepted when
    # this one forked (the program in forking mode with several --listen:
    # the block was that thread's, on its stack only; seen once in CI, a
    # request child of a worker forked by the first listener's thread).
    other_threads = sum(1 for r in records
                        if (re.search(r"are possibly lost in loss record", r)
                            and "allocate_dtv" in r and "pthread_create" in r)
                        or (re.search(r"are definitely lost in loss record", r)
                            and "ss__request_new" in r and "serve_thread" in r)
                        # nor what the chat room's broker thread holds (hiredis's
                        # buffers, whose pointers point inside them: possibly lost)
                        or (re.search(r"are (?:definitely|possibly) lost in loss record", r)
                            and "room_broker" in r))
    # Not errors: valgrind 3.19 lacks pidfd_open (434); the forking strategy then polls waitpid.
    unhandled = len(re.findall(r"WARNING: unhandled \S+ syscall", text))
    # Keyed by (group, pid): a long run wraps pid_max (32768 here), and a pid
    # seen in another program's logs is not this process's parent.
    procs[(group, pid)] = dict(path=path, group=group, parent=int(parent.group(1)) if parent else 0,
                      done=summary is not None, errors=int(summary.group(1)) if summary else 0,
                      leaks=leaks, other_threads=other_threads, unhandled=unhandled, text=text)

def depth(key):
    d = 0
    while (key[0], procs[key]["parent"]) in procs and d < 64:
        key = (key[0], procs[key]["parent"])
        d += 1
    return d

# Unit tests: the runner (0) forks a process per case (1), whose serving threads
# fork the forking strategy's children (2), not leak-checked. The program: the
# server (0) forks its children (1), leak-checked, but for the thread blocks (and the requests just accepted) of
# the threads that serve its other listeners (a child has only the one that
# forked it).
leak_depth = lambda group: 1 if group.startswith("unit-") else 99
stats = collections.OrderedDict()
bad = []
for key, p in sorted(procs.items()):
    s = stats.setdefault(p["group"], collections.Counter())
    s["processes"] += 1
    memerrors = p["errors"] - p["leaks"]
    forked = depth(key) >= 1
    counted_leaks = p["leaks"] - (p["other_threads"] if forked else 0) if depth(key) <= leak_depth(p["group"]) else 0
    s["memory errors"] += memerrors
    s["leaks"] += counted_leaks
    s["leaks in forked children (not counted)"] += p["leaks"] - counted_leaks
    s["killed before the report"] += not p["done"]
    s["unhandled-syscall warnings"] += p["unhandled"]
    if memerrors or counted_leaks:
        bad.append(p)
total = collections.Counter()
for group, s in stats.items():
    total.update(s)
    print("valgrind.sh: %-22s %s" % (group, ", ".join("%d %s" % (v, k) for k, v in s.items() if v or k == "processes")))
for p in bad[:10]:
    print("---- %s" % p["path"])
    print("\n".join(l for l in p["text"].splitlines() if not re.match(r"==\d+== (Memcheck|Copyright|Using|Command|Parent|$)", l))[:6000])
print("valgrind.sh: %d processes: %d memory errors, %d leaks" % (total["processes"], total["memory errors"], total["leaks"]))
sys.exit(1 if bad or not procs else 0)
EOF

echo "valgrind.sh: $((SECONDS - t_all)) s"
if [ "$failed" -ne 0 ]; then
    echo "valgrind.sh: FAILED"
    exit 1
fi
echo "valgrind.sh: clean"
