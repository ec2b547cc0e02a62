#!/usr/bin/env bash
# Runs every fuzz_<what> target of a DEEPSTACK_FUZZ build for SECONDS each (or, with RUNS, exactly RUNS inputs from
# seed 1: the same inputs on every machine, which is what CI runs) over its seed corpus
# (tests/fuzz/corpus/<what>/; what it finds goes to BUILD/fuzz-corpus/<what>/, never into the repository) and
# prints executions and coverage per target. Any crash, sanitizer report, hang (> 1 s on one input) or allocation
# over 1 GB fails the run; the input is left in BUILD/fuzz-artifacts/ and belongs in a regression test.
# Usage: tests/fuzz/run.sh BUILD [SECONDS] [RUNS]
set -euo pipefail
build=$1
seconds=${2:-30}
runs=${3:-}
limit=(-max_total_time="$seconds")
[ -n "$runs" ] && limit=(-runs="$runs" -seed=1)
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build/fuzz-artifacts"
# Targets run side by side, one per core (DEEPSTACK_FUZZ_JOBS): each is single-threaded and seeded, so the inputs
# and the verdicts are the same as one after another.
jobs=${DEEPSTACK_FUZZ_JOBS:-$(nproc)}
fuzz_one() {  # fuzz_one TARGET: runs it and writes its table row to BUILD/fuzz-artifacts/<what>.row
    local target=$1 what log result executed rate cov
    what=$(basename "$target"); what=${what#fuzz_}
    # A deterministic run starts from the committed seeds alone.
    [ -n "$runs" ] && rm -rf "$build/fuzz-corpus/$what"
    mkdir -p "$build/fuzz-corpus/$what"
    log="$build/fuzz-artifacts/$what.log"
    rm -f "$build/fuzz-artifacts/$what"-*
    if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$target" "${limit[@]}" -timeout=1 -rss_limit_mb=2560 -malloc_limit_mb=1024 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz-artifacts/$what-" "$build/fuzz-corpus/$what" "$here/corpus/$what" >"$log" 2>&1; then
        result=ok
    else
        result="FAILED (see $log)"
    fi
    executed=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
    printf '%-16s %12s %10s %8s  %s\n' "$what" "$executed" "$rate" "$cov" "$result" > "$build/fuzz-artifacts/$what.row"
}
# The slowest first (measured at 100 000 runs: tokenizer_json ~90 s, config ~55 s, every other under 25 s), so that
# neither is left running alone at the end.
targets=()
for what in tokenizer_json config; do [ -x "$build/tests/fuzz/fuzz_$what" ] && targets+=("$build/tests/fuzz/fuzz_$what"); done
for target in "$build"/tests/fuzz/fuzz_*; do
    case "$(basename "$target")" in fuzz_tokenizer_json|fuzz_config) ;; *) targets+=("$target") ;; esac
done
for target in "${targets[@]}"; do
    what=$(basename "$target"); rm -f "$build/fuzz-artifacts/${what#fuzz_}.row"
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    fuzz_one "$target" &
done
wait
status=0
failures=()
printf '%-16s %12s %10s %8s  %s\n' target executions "exec/s" coverage result
for target in "$build"/tests/fuzz/fuzz_*; do
    what=$(basename "$target"); what=${what#fuzz_}
    row="$build/fuzz-artifacts/$what.row"
    if [ -f "$row" ]; then cat "$row"; else printf '%-16s %s\n' "$what" "FAILED (the run left no result)"; fi
    if [ ! -f "$row" ] || ! grep -q '  ok$' "$row"; then failures+=("$what"); status=1; fi
done
# CI keeps only what is printed: for each failure, the report and the input itself (base64), so that the bug can be
# reproduced from the CI log alone (base64 -d > input; fuzz_<what> input).
for what in "${failures[@]}"; do
    log="$build/fuzz-artifacts/$what.log"
    echo "---- $what: the report ----"
    { grep -v -E '^#[0-9]+|^INFO:|^###|# Uses: [0-9]+$' "$log" || true; } | tail -60
    for input in "$build/fuzz-artifacts/$what"-*; do
        [ -f "$input" ] || continue
        echo "---- $what: the input $(basename "$input") ($(stat -c %s "$input") bytes), base64 ----"
        head -c 65536 "$input" | base64
    done
done
exit $status
