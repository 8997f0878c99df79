#!/usr/bin/env bash
# SFTP upload throughput: `sauvegarde export` (the release host binary loading the sftp
# plugin, as in production) against OpenSSH's own `sftp -b` client, both uploading the same
# file to the same throwaway loopback sshd, alternating, in one run.
#
#   bench/sftp-upload.sh [SIZE_MIB=1024] [ROUNDS=3]
#   COMPARE_WITH=/path/to/other/sauvegarde bench/sftp-upload.sh …   # two host builds side by side
#
# Prints each run's time and the ratio of total throughputs (sauvegarde / sftp); the goal is
# >= 0.8. Needs root (creates the test accounts the sshd test harness uses), openssh-server,
# openssh-client, openssl. The timing loop is bench/lib/upload-timing.sh.
set -euo pipefail

SIZE_MIB=${1:-1024}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
USER_NAME=sgtest-sftp-key   # the key-only account of tests/harness/sshd.rs

# shellcheck source=bench/lib/upload-timing.sh
. "$ROOT/bench/lib/upload-timing.sh"

cargo build --quiet --release --manifest-path "$ROOT/Cargo.toml" -p sauvegarde --bin sauvegarde \
    -p sauvegarde-sftp --lib
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release

T=$(mktemp -d /tmp/sauvegarde-sftp-bench.XXXXXX)
SSHD_PID=
cleanup() {
    if [ -n "$SSHD_PID" ]; then kill "$SSHD_PID" 2>/dev/null || true; wait "$SSHD_PID" 2>/dev/null || true; fi
    rm -rf "$T"
}
trap cleanup EXIT

flock /tmp/sauvegarde-test-users.lock sh -c "
  if ! id -u $USER_NAME >/dev/null 2>&1; then
    useradd -m -s /bin/sh $USER_NAME && usermod -p '*' $USER_NAME
  fi"
install -d -m 755 /run/sshd
chmod 755 "$T"
install -d -m 777 "$T/data"
ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$T/host_key"
ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$T/client_key"
install -m 644 "$T/client_key.pub" "$T/authorized_keys"
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$T/sshd_config" <<CFG
Port $PORT
ListenAddress 127.0.0.1
HostKey $T/host_key
PidFile $T/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile $T/authorized_keys
StrictModes no
AllowUsers $USER_NAME
Subsystem sftp internal-sftp
CFG
/usr/sbin/sshd -D -e -f "$T/sshd_config" 2>"$T/sshd.log" &
SSHD_PID=$!
wait_for_port "$PORT"

echo "generating a ${SIZE_MIB} MiB file"
make_payload "$T/payload.bin" "$SIZE_MIB"
BYTES=$(stat -c %s "$T/payload.bin")

FINGERPRINT=$(ssh-keygen -lf "$T/host_key.pub" | awk '{print $2}')
bench_config "$T/sauvegarde.toml" "$TARGET" sftp
cat >> "$T/sauvegarde.toml" <<TOML
host = "127.0.0.1"
port = $PORT
user = "$USER_NAME"
private_key_file = "$T/client_key"
host_key_fingerprint = "$FINGERPRINT"
remote_dir = "$T/data"
retries = 0
TOML
echo "put $T/payload.bin $T/data/sftp.bin" > "$T/batch"

upload_a() { sauvegarde_export "$T" "$TARGET"; }
upload_b() {
    sftp -q -b "$T/batch" -i "$T/client_key" -P "$PORT" \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        "$USER_NAME@127.0.0.1"
}
if [ -n "${COMPARE_WITH:-}" ]; then
    # Another sauvegarde binary (e.g. a build of an older commit) instead of `sftp`.
    upload_b() {
        "$COMPARE_WITH" --config "$T/sauvegarde.toml" export bench "$T/payload.bin" 2>>"$T/sauvegarde.log" \
            || { cat "$T/sauvegarde.log" >&2; return 1; }
    }
    alternate_uploads "$ROUNDS" "$SIZE_MIB" "$BYTES" sauvegarde "$T/data/payload.bin" other "$T/data/payload.bin"
else
    alternate_uploads "$ROUNDS" "$SIZE_MIB" "$BYTES" sauvegarde "$T/data/payload.bin" sftp "$T/data/sftp.bin"
fi
