#!/usr/bin/env bash
# Cost of one exporter worker: the `sauvegarde` release binary re-executed as
# `sauvegarde __worker`, asked to load a plugin file and say what it is (the first thing
# every worker does), until its answer is read. Also the worker's peak RSS.
#
#   bench/worker-start.sh [RUNS=50] [PLUGIN=sftp]
#
# Prints the median and 90th percentile of the start-to-answer time, and the largest peak
# RSS of the workers. Needs python3.
set -euo pipefail

RUNS=${1:-50}
PLUGIN=${2:-sftp}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

cargo build --quiet --release --manifest-path "$ROOT/Cargo.toml" -p sauvegarde --bin sauvegarde \
    -p "sauvegarde-$PLUGIN" --lib
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release

/usr/bin/python3 - "$TARGET/sauvegarde" "$TARGET/libsauvegarde_$PLUGIN.so" "$RUNS" <<'PY'
import json, os, resource, statistics, subprocess, sys, time

exe, plugin, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
request = (json.dumps({"op": "probe", "plugin": plugin}) + "\n").encode()
times, rss = [], []
for _ in range(runs):
    start = time.perf_counter()
    p = subprocess.Popen([exe, "__worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    p.stdin.write(request)
    p.stdin.flush()
    answer = p.stdout.readline()
    times.append((time.perf_counter() - start) * 1000)
    p.stdin.close()
    p.wait()
    frame = json.loads(answer)
    assert frame["frame"] == "done" and frame["outcome"]["result"] == "probed", frame
    # ru_maxrss of waited-for children: the largest peak so far, in KiB.
    rss.append(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
times.sort()
print(f"worker start + load of {os.path.basename(plugin)}, {runs} runs:")
print(f"  median {statistics.median(times):.1f} ms, p90 {times[int(0.9 * (runs - 1))]:.1f} ms, min {times[0]:.1f} ms")
print(f"  peak RSS {max(rss) / 1024:.1f} MiB")
PY
