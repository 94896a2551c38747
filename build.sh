#!/usr/bin/env bash
# One-command set-up for TvixLowFs on Debian 12 (run as root on a fresh machine):
#   ./build.sh          install what is missing, build native/ (the first time it fetches BLAKE3's
#                       C sources with apt-get download), build everything warning-free,
#                       publish the NativeAOT binary to artifacts/tvixlowfs
#   ./build.sh test     the same, then fuzz each decoder for 20 s (tests/TvixLowFs.Fuzz/fuzz.sh; set
#                       TVIXLOWFS_FUZZ_SECONDS, 0 skips it; skipped too when ARGS are given) and
#                       run the whole NUnit suite (results in artifacts/test-results)
#   ./build.sh demo     the same, then import protos/ into a demo store and mount it in the
#                       foreground at a printed path until Ctrl-C
#   ./build.sh bench [ARGS]   the same, then `dotnet run -c Release --project bench -- ARGS`
#                             (`bench e2e ARGS`: `dotnet run -c Release --project bench/E2e -- ARGS`)
# Idempotent: each step is skipped or incremental when nothing changed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$repo"
command=${1:-build}
[ $# -gt 0 ] && shift

log() { printf '==> %s\n' "$*" >&2; }

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

install_packages() {
    # fuse3: fusermount3 and the kernel module helpers; libfuse3-3/-dev: the library and the
    # headers native/ probes; clang + zlib1g-dev: NativeAOT's linker; attr: getfattr for checks.
    # libsodium-dev (Ed25519 narinfo signatures), liblzma-dev and libbz2-dev (xz and bzip2 NARs):
    # their static libraries are linked into the NativeAOT binary, their .so serve JIT runs.
    local wanted=(fuse3 libfuse3-3 libfuse3-dev pkg-config make gcc clang zlib1g-dev attr
                  libsodium-dev liblzma-dev libbz2-dev)
    # test: real Nix 2.8 (nix-bin) is the independent party of the binary-cache tests; python3
    # serves their fixtures (http.server); xz-utils, zstd, bzip2 and brotli make hostile streams.
    # afl++: the fuzzer of tests/TvixLowFs.Fuzz (SharpFuzz's instrumenter comes as a local dotnet tool).
    # ceph-mon, ceph-osd, radosgw, ceph-common: the single-node Ceph RGW the object-store tests start
    # (a real S3 server); python3-boto3: the independent S3 client that checks what landed.
    if [ "$command" = test ]; then wanted+=(nix-bin python3 xz-utils zstd bzip2 brotli afl++
                                            ceph-mon ceph-osd radosgw ceph-common python3-boto3); fi
    # bench: squashfuse_ll and its image tool (the peer); xz-utils to unpack libfuse's source when
    # the e2e harness must fetch example/passthrough_ll.c (the reference) with `apt-get source`
    # because libfuse3-dev's copy under /usr/share/doc is missing; nix-bin (the peer), python3
    # (the cache server), curl and zstd for `bench binary-cache` (bench/BinaryCache).
    if [ "$command" = bench ]; then wanted+=(squashfuse squashfs-tools xz-utils nix-bin python3 curl zstd); fi
    local missing=()
    for package in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "build.sh: missing packages (${missing[*]}); run as root or install them" >&2
            exit 1
        fi
        log "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if ! command -v dotnet >/dev/null 2>&1; then
        echo "build.sh: the .NET 10 SDK (dotnet) is not on PATH" >&2
        exit 1
    fi
}

build_all() {
    log "building native/"
    make -s -C native
    log "building the solution (warnings are errors)"
    dotnet build TvixLowFs.sln -c Release -warnaserror -nologo -clp:ErrorsOnly -v:quiet
    log "publishing the NativeAOT binary"
    dotnet publish src/TvixLowFs.Cli/TvixLowFs.Cli.csproj -c Release -r linux-x64 -warnaserror \
        -nologo -clp:ErrorsOnly -v:quiet -o artifacts/publish
    install -m 0755 artifacts/publish/tvixlowfs artifacts/tvixlowfs
    log "ready: artifacts/tvixlowfs"
}

list_failures() {
    python3 - "$1" <<'PY' || true
import sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for r in ET.parse(sys.argv[1]).getroot().iterfind(".//t:UnitTestResult", ns):
    if r.get("outcome") == "Passed":
        continue
    message = r.findtext(".//t:Message", default="", namespaces=ns).strip().splitlines()
    print(f"FAILED {r.get('testName')} ({r.get('outcome')}, {r.get('duration')})")
    for line in message[:6]:
        print(f"    {line}")
PY
}

# The tests the blame collector found running when it killed a hung test host (Completed="False"
# in its Sequence files), one per line; the hang dumps lie beside them.
list_hung() {
    python3 - "$1" <<'PY' || true
import glob, os, sys, xml.etree.ElementTree as ET
hung = {}  # the collector keeps a copy of each Sequence file under In/: one line per test
for sequence in sorted(glob.glob(os.path.join(sys.argv[1], "**", "Sequence_*.xml"), recursive=True)):
    for test in ET.parse(sequence).getroot().iter("Test"):
        if test.get("Completed") == "False":
            hung.setdefault(test.get("Name"), set()).update(glob.glob(os.path.join(os.path.dirname(sequence), "*hangdump*")))
for name, dumps in hung.items():
    print(f"HUNG {name} (killed after --blame-hang-timeout; dump: {', '.join(sorted(dumps)) or 'none'})")
PY
}

# Set by run_fuzz, counted by run_tests: targets in which fuzzing found a crash or a hang.
fuzz_failures=0
fuzz_report=""

run_fuzz() {
    local seconds=${TVIXLOWFS_FUZZ_SECONDS:-20}
    if [ "$seconds" -eq 0 ] || [ $# -gt 0 ]; then
        return 0
    fi
    log "fuzzing every decoder for ${seconds} s (tests/TvixLowFs.Fuzz/fuzz.sh)"
    local output
    if ! output=$(tests/TvixLowFs.Fuzz/fuzz.sh "$seconds" 2>&1); then
        fuzz_failures=1
        fuzz_report=$(grep -E '^fuzzing found|^    /' <<<"$output" || true)
    fi
    printf '%s\n' "$output" >&2
}

run_tests() {
    if [ ! -e /dev/fuse ]; then
        echo "build.sh: /dev/fuse is missing: the mount tests cannot run (this is a failure, not a skip)" >&2
        exit 1
    fi
    local results="$repo/artifacts/test-results"
    rm -rf "$results"
    mkdir -p "$results"
    log "running the test suite"
    local status=0
    # Hang detection: a mount-touching test has [CancelAfter] (at most 10 min, checked by
    # MountTimeoutCoverageTests) after which its mounts are aborted; a test host silent for 15
    # minutes anyway (a hang outside a test body) is dumped (mini dump) and killed by the blame
    # collector, so a hang costs CI 15 minutes, not 90, and is named at the end of the log.
    TVIXLOWFS_BINARY="$repo/artifacts/tvixlowfs" dotnet test tests/TvixLowFs.Tests/TvixLowFs.Tests.csproj \
        -c Release --no-build -nologo \
        --blame-hang-timeout 15m --blame-hang-dump-type mini \
        --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
        --results-directory "$results" "$@" || status=$?
    local trx="$results/results.trx" hung
    hung=$(list_hung "$results")
    if [ -f "$trx" ]; then
        local counters passed failed total
        counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
        total=$(sed -n 's/.* total="\([0-9]*\)".*/\1/p' <<<"$counters")
        passed=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
        failed=$(( ${total:-0} - ${passed:-0} ))
        # A killed test host leaves its hung test out of the counts: count it as failed; a
        # fuzzing crash counts as one failure too.
        [ -z "$hung" ] || failed=$(( failed + $(wc -l <<<"$hung") ))
        failed=$(( failed + fuzz_failures ))
        [ -z "$fuzz_report" ] || echo "$fuzz_report"
        # CI keeps only the tail of the log: name every failure again just above the count.
        [ "$failed" -eq 0 ] || list_failures "$trx"
        [ -z "$hung" ] || echo "$hung"
        [ $status -ne 0 ] || [ "$failed" -eq 0 ] || status=1
        echo "${passed:-0} passed, ${failed} failed"
    else
        [ -z "$hung" ] || echo "$hung"
        echo "0 passed, 1 failed"
        [ $status -ne 0 ] || status=1
    fi
    return $status
}

run_demo() {
    local demo=${TVIXLOWFS_DEMO_DIR:-/tmp/tvixlowfs-demo}
    local store="local://$demo/store"
    mkdir -p "$demo/mnt"
    export BLOB_SERVICE_ADDR=$store DIRECTORY_SERVICE_ADDR=$store PATH_INFO_SERVICE_ADDR=$store
    log "importing protos/ into $demo/store"
    local path
    path=$(artifacts/tvixlowfs import "$repo/protos")
    echo "imported: $path"
    echo "mounting at $demo/mnt (Ctrl-C to unmount); try in another shell:"
    echo "  ls -l $demo/mnt/    find $demo/mnt/$(basename "$path")"
    exec artifacts/tvixlowfs mount "$demo/mnt" --list-root
}

install_packages
case "$command" in
    build) build_all ;;
    test) build_all; run_fuzz "$@"; run_tests "$@" ;;
    demo) build_all; run_demo ;;
    bench)
        build_all
        if [ "${1:-}" = e2e ]; then shift; exec dotnet run -c Release --project bench/E2e -- "$@"; fi
        exec dotnet run -c Release --project bench -- "$@" ;;
    *) echo "usage: ./build.sh [build|test|demo|bench [ARGS]]" >&2; exit 2 ;;
esac
