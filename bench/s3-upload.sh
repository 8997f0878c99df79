#!/usr/bin/env bash
# S3 upload throughput: `sauvegarde export` (the release host binary loading the s3 plugin,
# multipart with its default part size and concurrency) against `rclone copyto` (Debian's
# rclone, S3 provider "Other", path style), both uploading the same file to the same
# throwaway loopback s3s-fs server, alternating, in one run; then the peak RSS of one more
# `sauvegarde export` under GNU time.
#
#   bench/s3-upload.sh [SIZE_MIB=1024] [ROUNDS=3]
#
# Prints each run's time, the ratio of total throughputs (sauvegarde / rclone; the goal is
# >= 0.9) and the export's peak RSS (goal <= 64 MiB). Needs s3s-fs (scripts/install-test-deps
# puts it in /opt/sauvegarde-test-tools/bin), rclone, openssl, GNU time.
set -euo pipefail

SIZE_MIB=${1:-1024}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
S3S_FS=${SAUVEGARDE_TEST_TOOLS:-/opt/sauvegarde-test-tools}/bin/s3s-fs
ACCESS_KEY=SGBENCHACCESSKEY
SECRET_KEY=sg-bench-secret-Zq42
[ -x "$S3S_FS" ] || { echo "$S3S_FS is missing: run scripts/install-test-deps" >&2; exit 1; }

# shellcheck source=bench/lib/upload-timing.sh
. "$ROOT/bench/lib/upload-timing.sh"

cargo build --quiet --release --manifest-path "$ROOT/Cargo.toml" -p sauvegarde --bin sauvegarde \
    -p sauvegarde-s3 --lib
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release

T=$(mktemp -d /tmp/sauvegarde-s3-bench.XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$T"
}
trap cleanup EXIT

mkdir -p "$T/data/bench"
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn "$S3S_FS" --host 127.0.0.1 --port "$PORT" --access-key "$ACCESS_KEY" \
    --secret-key "$SECRET_KEY" "$T/data" >"$T/server.log" 2>&1 &
SERVER_PID=$!
wait_for_port "$PORT"

echo "generating a ${SIZE_MIB} MiB file"
make_payload "$T/payload.bin" "$SIZE_MIB"
BYTES=$(stat -c %s "$T/payload.bin")

bench_config "$T/sauvegarde.toml" "$TARGET" s3
cat >> "$T/sauvegarde.toml" <<TOML
bucket = "bench"
endpoint = "http://127.0.0.1:$PORT"
access_key_id = "$ACCESS_KEY"
secret_access_key = "$SECRET_KEY"
path_style = true
retries = 0
TOML

upload_a() { sauvegarde_export "$T" "$TARGET"; }
upload_b() {
    # rclone 1.60 fails on the AWS_CA_BUNDLE these machines set; it talks plain HTTP here.
    env -u AWS_CA_BUNDLE RCLONE_CONFIG_T_TYPE=s3 RCLONE_CONFIG_T_PROVIDER=Other \
        RCLONE_CONFIG_T_ENDPOINT="http://127.0.0.1:$PORT" RCLONE_CONFIG_T_FORCE_PATH_STYLE=true \
        RCLONE_CONFIG_T_ACCESS_KEY_ID="$ACCESS_KEY" RCLONE_CONFIG_T_SECRET_ACCESS_KEY="$SECRET_KEY" \
        rclone copyto "$T/payload.bin" t:bench/rclone.bin
}
alternate_uploads "$ROUNDS" "$SIZE_MIB" "$BYTES" sauvegarde "$T/data/bench/payload.bin" \
    rclone "$T/data/bench/rclone.bin"

/usr/bin/time -v -o "$T/time.txt" "$TARGET/sauvegarde" --config "$T/sauvegarde.toml" \
    export bench "$T/payload.bin" 2>>"$T/sauvegarde.log" >/dev/null \
    || { cat "$T/sauvegarde.log" >&2; exit 1; }
awk -F': ' '/Maximum resident set size/ { printf "peak RSS of sauvegarde export: %.1f MiB\n", $2 / 1024 }' "$T/time.txt"
