#!/usr/bin/env bash
# Run every libFuzzer target for SECONDS each, JOBS at a time, starting from
# the seed corpus in the repo (zookd/fuzz/corpus/<target>, read only); new
# corpus entries and crash artifacts go to a scratch directory. Prints the
# executions per target; exits non-zero if any target found a crash or a
# sanitizer report.
#   zookd/fuzz/run.sh SECONDS [JOBS]
set -euo pipefail
seconds=${1:?usage: run.sh SECONDS [JOBS]}
jobs=${2:-1}
here=$(cd "$(dirname "$0")" && pwd)
bin=$here/../build-fuzz
scratch=${FUZZ_SCRATCH:-$(mktemp -d /tmp/zookd-fuzz.XXXXXX)}
targets=(fuzz_head fuzz_path fuzz_conf)
echo "fuzz: ${#targets[@]} targets x ${seconds}s, ${jobs} at a time; scratch in $scratch"

run_one() {
    local t=$1
    mkdir -p "$scratch/$t/corpus" "$scratch/$t/artifacts"
    # -rss_limit_mb stays at the default; -timeout catches hangs (>10 s per input)
    if "$bin/$t" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$scratch/$t/artifacts/" \
        "$scratch/$t/corpus" "$here/corpus/$t" >"$scratch/$t/log" 2>&1; then
        echo ok >"$scratch/$t/status"
    else
        echo fail >"$scratch/$t/status"
    fi
}

pids=()
for t in "${targets[@]}"; do
    run_one "$t" &
    pids+=($!)
    while (( $(jobs -rp | wc -l) >= jobs )); do wait -n || true; done
done
wait

rc=0
for t in "${targets[@]}"; do
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$t/log" | tail -1)
    status=$(cat "$scratch/$t/status")
    printf '%-10s %-4s %12s execs in %ss\n' "$t" "$status" "${execs:-?}" "$seconds"
    if [[ $status != ok ]] || grep -qE 'ERROR: (AddressSanitizer|libFuzzer|UndefinedBehavior)|runtime error:' "$scratch/$t/log"; then
        rc=1
        echo "---- $t log (tail) ----"
        tail -40 "$scratch/$t/log"
        ls -l "$scratch/$t/artifacts/"
    fi
done
exit $rc
