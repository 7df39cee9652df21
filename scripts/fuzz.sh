#!/usr/bin/env bash
# Builds the fuzz targets (the Fuzz/ package, libFuzzer through -sanitize=fuzzer,address) and runs
# each for a bounded time, starting from its committed seed corpus.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Targets: json utf8 clientcommand protobufcommands configuration jwt websocketframes (default: all), 30 s each by
# default. docs/FUZZING.md says what each one checks.
#
# The seed corpus (Fuzz/Corpus/<target>) is copied to .build-fuzz/fuzz/<target>/corpus, where the
# fuzzer adds what it finds, so the repository is never written. Crashing inputs go to
# .build-fuzz/fuzz/<target>/crashes/ (each run starts with that folder empty). One summary line per
# target: executions, coverage (cov: edges, ft: features), corpus size, crashes. Exits non-zero if
# any target crashed (a trap, an oracle's fatalError, an ASan report, a timeout or running out of
# memory).
#
# Environment: FUZZ_CONFIGURATION (debug or release; default debug), FUZZ_RSS_LIMIT_MB (2048),
# FUZZ_TIMEOUT (seconds for one input; 10), FUZZ_ARGS (more libFuzzer flags), FUZZ_SKIP_BUILD=1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SECONDS_PER_TARGET=${1:-30}
shift || true
ALL_TARGETS=(json utf8 clientcommand protobufcommands configuration jwt websocketframes)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi
CONFIGURATION=${FUZZ_CONFIGURATION:-debug}
RSS_LIMIT_MB=${FUZZ_RSS_LIMIT_MB:-2048}
TIMEOUT=${FUZZ_TIMEOUT:-10}
SCRATCH="$ROOT/.build-fuzz"
OUT="$SCRATCH/fuzz"

if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || [ "$SECONDS_PER_TARGET" -eq 0 ]; then
    echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (targets: ${ALL_TARGETS[*]})" >&2
    exit 2
fi

product() {
    case "$1" in
        json) echo FuzzJSON ;;
        utf8) echo FuzzUTF8 ;;
        clientcommand) echo FuzzClientCommand ;;
        protobufcommands) echo FuzzProtobufCommands ;;
        configuration) echo FuzzConfiguration ;;
        jwt) echo FuzzJWT ;;
        websocketframes) echo FuzzWebSocketFrames ;;
        *) echo "error: unknown fuzz target '$1' (targets: ${ALL_TARGETS[*]})" >&2; return 1 ;;
    esac
}

for target in "${TARGETS[@]}"; do product "$target" > /dev/null; done

BUILD=(swift build --package-path Fuzz --scratch-path "$SCRATCH" -c "$CONFIGURATION"
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)
# Release builds need testing enabled for the targets' @testable imports (debug has it already).
[ "$CONFIGURATION" = release ] && BUILD+=(-Xswiftc -enable-testing)
if [ "${FUZZ_SKIP_BUILD:-0}" != 1 ]; then
    for target in "${TARGETS[@]}"; do
        echo "==> Building $(product "$target") ($CONFIGURATION, -sanitize=fuzzer,address)"
        mkdir -p "$OUT"
        status=0
        "${BUILD[@]}" --product "$(product "$target")" > "$OUT/build.log" 2>&1 || status=$?
        # The linker warns about every ASan helper symbol it cannot export: noise.
        grep -v "Cannot export local symbol" "$OUT/build.log" || true
        [ "$status" -eq 0 ] || { echo "error: building $(product "$target") failed" >&2; exit 1; }
    done
fi
BIN=$("${BUILD[@]}" --show-bin-path)

failed=()
summaries=()
for target in "${TARGETS[@]}"; do
    dir="$OUT/$target"
    rm -rf "$dir"
    mkdir -p "$dir/corpus" "$dir/crashes"
    cp "Fuzz/Corpus/$target/"* "$dir/corpus/"
    echo "==> Fuzzing $target for ${SECONDS_PER_TARGET} s (log: $dir/log)"
    status=0
    # jwt: every input hops to a Task and back, so libFuzzer sees mallocs and frees unbalanced and
    # runs LeakSanitizer after each one (over 80% of its time; 45 instead of ~800 executions/s).
    extra=()
    [ "$target" = jwt ] && extra=(-detect_leaks=0)
    dict=()
    [ -f "Fuzz/Dictionaries/$target.dict" ] && dict=(-dict="Fuzz/Dictionaries/$target.dict")
    # SWIFT_BACKTRACE: libFuzzer and ASan report the crash; Swift's own backtracer would only add a
    # second report (and trips ASan while reading the crashed process's memory).
    # shellcheck disable=SC2086
    SWIFT_BACKTRACE=enable=no "$BIN/$(product "$target")" "$dir/corpus" "${dict[@]}" "${extra[@]}" \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb="$RSS_LIMIT_MB" -timeout="$TIMEOUT" \
        -artifact_prefix="$dir/crashes/" -print_final_stats=1 ${FUZZ_ARGS:-} > "$dir/log" 2>&1 || status=$?
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
    coverage=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$dir/log" | tail -n 1 || true)
    crashes=$(find "$dir/crashes" -type f | wc -l)
    line="fuzz $target: ${executions:-?} executions in ${SECONDS_PER_TARGET} s, ${coverage:-no coverage line}, crashes: $crashes"
    if [ "$status" -ne 0 ] || [ "$crashes" -gt 0 ]; then
        line="$line (exit $status) FAILED"
        failed+=("$target")
        # What went wrong, and the input that did it.
        grep -E -m 3 'Fatal error|Precondition failed|ERROR: |SUMMARY: ' "$dir/log" || tail -n 20 "$dir/log"
        find "$dir/crashes" -type f | sed 's/^/  reproducer: /'
    fi
    echo "$line"
    summaries+=("$line")
done

echo
printf '%s\n' "${summaries[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "error: fuzz targets failed: ${failed[*]} (reproduce: $BIN/<Target> <reproducer>)" >&2
    exit 1
fi
