#!/usr/bin/env bash
# Coverage-guided fuzzing of the decoders that face untrusted bytes, with afl++ through SharpFuzz.
#   tests/TvixLowFs.Fuzz/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]   (default 25 s, every target)
# Builds tvixlowfs-fuzz, copies it to artifacts/fuzz/bin, instruments the copies of the decoders'
# assemblies there (the build's own outputs, which the test suite uses, stay as they are), then runs
# afl-fuzz on each target from its seed corpus (corpus/TARGET/) for the given time. Exits 1 if any
# target crashed or hung; the inputs are in artifacts/fuzz/findings/TARGET/default/{crashes,hangs}/.
# Keep each one as a regression input in crashes/TARGET/ (the suite replays them: tests/TvixLowFs.Tests/Fuzz).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
seconds=${1:-25}
[ $# -gt 0 ] && shift
out="$repo/artifacts/fuzz"
bin="$out/bin"

cd "$repo"
dotnet build tests/TvixLowFs.Fuzz -c Release -warnaserror -nologo -clp:ErrorsOnly -v:quiet >&2
rm -rf "$bin"
mkdir -p "$bin"
cp -r tests/TvixLowFs.Fuzz/bin/Release/net10.0/. "$bin/"
dotnet tool restore >/dev/null
for assembly in TvixLowFs.Store.Model TvixLowFs.Store.Grpc; do
    dotnet tool run sharpfuzz "$bin/$assembly.dll" >/dev/null
done

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <("$bin/tvixlowfs-fuzz" list)

# The target is a .NET program: afl++ cannot see instrumentation in the apphost itself (SharpFuzz
# reports coverage through afl's shared memory at run time). No UI in a log; CI's core_pattern
# and CPU governor are not ours to change.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

failed=()
for target in "${targets[@]}"; do
    findings="$out/findings/$target"
    rm -rf "$findings"
    mkdir -p "$out/findings"
    echo "==> fuzzing $target for ${seconds} s" >&2
    # -t: a generous per-input limit (a busy 2-core CI machine); an input slower than that is a hang.
    afl-fuzz -i "tests/TvixLowFs.Fuzz/corpus/$target" -o "$findings" -t 10000 -m none -V "$seconds" \
        -- "$bin/tvixlowfs-fuzz" run "$target" > "$out/$target.log" 2>&1 || {
        echo "afl-fuzz failed for $target; the end of its log ($out/$target.log):" >&2
        tail -n 30 "$out/$target.log" >&2
        failed+=("$target")
        continue
    }
    stats="$findings/default/fuzzer_stats"
    execs=$(sed -n 's/^execs_done *: *//p' "$stats")
    edges=$(sed -n 's/^edges_found *: *//p' "$stats")
    found=$(find "$findings/default/crashes" "$findings/default/hangs" -type f -name 'id:*' 2>/dev/null | wc -l)
    echo "    $target: $execs inputs run, $edges edges covered, $found crashes or hangs" >&2
    if [ "$found" -gt 0 ]; then
        failed+=("$target")
        find "$findings/default/crashes" "$findings/default/hangs" -type f -name 'id:*' | while read -r input; do
            echo "    $input" >&2
            # replayed by the uninstrumented build: instrumented code writes to afl's shared map, absent here
            dotnet tests/TvixLowFs.Fuzz/bin/Release/net10.0/tvixlowfs-fuzz.dll replay "$target" "$input" 2>&1 | tail -n 8 | sed 's/^/        /' >&2 || true
        done
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found crashes or hangs in: ${failed[*]} (keep each input in tests/TvixLowFs.Fuzz/crashes/TARGET/ once fixed)" >&2
    exit 1
fi
echo "fuzzing: no crash or hang in ${targets[*]} (${seconds} s each)" >&2
