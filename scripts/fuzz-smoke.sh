#!/usr/bin/env bash
# Fuzz smoke test: runs every cargo-fuzz target in fuzz/ for N seconds each.
#
#   scripts/fuzz-smoke.sh [SECONDS]        # default 30 seconds per target
#
# Exits non-zero if a target crashes (panic, sanitizer error, OOM, leak) or does not
# build. Inputs slower than FUZZ_UNIT_TIMEOUT seconds (default 10) are reported as
# warnings and saved, and fail the run only with FUZZ_STRICT=1.
#
# Environment:
#   FUZZ_TARGETS        targets to run (default: "envelope uri_template auth_header")
#   FUZZ_UNIT_TIMEOUT   per-input time limit in seconds (default 10)
#   FUZZ_STRICT=1       treat slow inputs / timeouts as failures
#   FUZZ_SANITIZER      address (default) or none
#   FUZZ_MAX_LEN        largest input libFuzzer generates (default: libFuzzer's own)
#
# cargo-fuzz is installed if missing. It needs nightly for sanitizers: the nightly
# toolchain is used when installed, otherwise stable with RUSTC_BOOTSTRAP=1; if the
# sanitizer build still fails, the script retries with --sanitizer none.
set -euo pipefail

secs="${1:-30}"
targets="${FUZZ_TARGETS:-envelope uri_template auth_header}"
unit_timeout="${FUZZ_UNIT_TIMEOUT:-10}"
sanitizer="${FUZZ_SANITIZER:-address}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz="$root/fuzz"
cd "$root"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi

build() { # target
    cargo "${toolchain[@]}" fuzz build --sanitizer "$sanitizer" "$1"
}

status=0
logs="$(mktemp -d)"
for t in $targets; do
    echo "== building $t (sanitizer: $sanitizer)"
    if ! build "$t"; then
        if [ "$sanitizer" != none ]; then
            echo "== sanitizer build failed; retrying with --sanitizer none"
            sanitizer=none
            build "$t" || { echo "FAIL: $t does not build"; status=1; continue; }
        else
            echo "FAIL: $t does not build"
            status=1
            continue
        fi
    fi
    corpus="$fuzz/corpus/$t"
    artifacts="$fuzz/artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    seeds=()
    [ -d "$fuzz/seeds/$t" ] && seeds+=("$fuzz/seeds/$t")
    dict=()
    [ -f "$fuzz/$t.dict" ] && dict+=("-dict=$fuzz/$t.dict")
    [ -n "${FUZZ_MAX_LEN:-}" ] && dict+=("-max_len=$FUZZ_MAX_LEN")
    marker="$logs/$t.start"
    touch "$marker"
    sleep 1 # artifacts written in this run are strictly newer than the marker
    echo "== fuzzing $t for ${secs}s"
    rc=0
    timeout $((secs + 2 * unit_timeout + 120)) \
        cargo "${toolchain[@]}" fuzz run --sanitizer "$sanitizer" "$t" "$corpus" "${seeds[@]}" -- \
        -max_total_time="$secs" -timeout="$unit_timeout" -print_final_stats=1 "${dict[@]}" \
        >"$logs/$t.log" 2>&1 || rc=$?
    runs="$(grep -Eo '^Done [0-9]+ runs in [0-9]+ second' "$logs/$t.log" | tail -1 || true)"
    execs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$logs/$t.log" | grep -Eo '[0-9]+$' | tail -1 || true)"
    new=$(find "$artifacts" -type f -newer "$marker" 2>/dev/null | sort)
    crashes=$(printf '%s\n' "$new" | grep -E '/(crash|oom|leak)-' || true)
    slow=$(printf '%s\n' "$new" | grep -E '/(timeout|slow-unit)-' || true)
    echo "   $t: ${execs:-?} executions${runs:+ ($runs)}, exit code $rc"
    if [ -n "$crashes" ]; then
        echo "FAIL: $t crashed; inputs:"
        printf '   %s\n' $crashes
        grep -E "panicked at|ERROR: (AddressSanitizer|libFuzzer)|SUMMARY" "$logs/$t.log" | head -5 | sed 's/^/   /'
        echo "   reproduce: cargo ${toolchain[*]} fuzz run $t <input>"
        status=1
    elif [ -n "$slow" ]; then
        echo "WARN: $t had inputs slower than ${unit_timeout}s:"
        printf '   %s\n' $slow
        [ "${FUZZ_STRICT:-0}" = 1 ] && status=1
    elif [ "$rc" -ne 0 ]; then
        echo "FAIL: $t exited with $rc and left no artifact; last lines of the log:"
        tail -20 "$logs/$t.log" | sed 's/^/   /'
        status=1
    fi
done
echo "== logs in $logs"
exit "$status"
