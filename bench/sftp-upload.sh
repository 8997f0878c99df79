#!/usr/bin/env bash
# SFTP upload throughput: the sauvegarde sftp plugin (loaded through the plugin ABI by
# plugins/sftp/examples/upload.rs) against OpenSSH's own `sftp -b` client, both uploading
# the same file to the same throwaway loopback sshd, alternating, in one run.
#
#   bench/sftp-upload.sh [SIZE_MIB=1024] [ROUNDS=3]
#
# Prints each run's time and the ratio of total throughputs (plugin / sftp); the goal is
# >= 0.8. Needs root (creates the test accounts the sshd test harness uses), openssh-server,
# openssh-client, openssl. Uses the debug build: libssh2 and OpenSSL are optimised even
# there (profile.dev.package."*" opt-level 2), and they do the work.
set -euo pipefail

SIZE_MIB=${1:-1024}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
USER_NAME=sgtest-sftp-key   # the key-only account of tests/harness/sshd.rs

cargo build --quiet --manifest-path "$ROOT/Cargo.toml" -p sauvegarde-sftp --lib --example upload
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/debug
PLUGIN=$TARGET/libsauvegarde_sftp.so
UPLOAD=$TARGET/examples/upload

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
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

echo "generating a ${SIZE_MIB} MiB file"
# openssl dies of SIGPIPE once head has enough: not a failure.
{ openssl enc -aes-128-ctr -pass pass:sauvegarde -nosalt -pbkdf2 -in /dev/zero 2>/dev/null || true; } \
    | head -c $((SIZE_MIB << 20)) > "$T/payload.bin"
BYTES=$(stat -c %s "$T/payload.bin")

FINGERPRINT=$(ssh-keygen -lf "$T/host_key.pub" | awk '{print $2}')
/usr/bin/python3 - "$T" "$PORT" "$USER_NAME" "$FINGERPRINT" > "$T/config.json" <<'PY'
import json, sys
t, port, user, fp = sys.argv[1:]
print(json.dumps({"host": "127.0.0.1", "port": int(port), "user": user,
                  "private_key_file": f"{t}/client_key", "host_key_fingerprint": fp,
                  "remote_dir": f"{t}/data"}))
PY
echo "put $T/payload.bin $T/data/sftp.bin" > "$T/batch"

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
PLUGIN_TOTAL=0
SFTP_TOTAL=0
for round in $(seq "$ROUNDS"); do
    start=$(now)
    "$UPLOAD" "$PLUGIN" "$T/config.json" "$T/payload.bin" plugin.bin >/dev/null
    plugin_s=$(calc "$(now) - $start")
    [ "$(stat -c %s "$T/data/plugin.bin")" = "$BYTES" ] || { echo "plugin upload incomplete" >&2; exit 1; }
    rm -f "$T/data/plugin.bin"

    start=$(now)
    sftp -q -b "$T/batch" -i "$T/client_key" -P "$PORT" \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        "$USER_NAME@127.0.0.1" >/dev/null
    sftp_s=$(calc "$(now) - $start")
    [ "$(stat -c %s "$T/data/sftp.bin")" = "$BYTES" ] || { echo "sftp upload incomplete" >&2; exit 1; }
    rm -f "$T/data/sftp.bin"

    printf 'round %d: plugin %6.2f s (%6.1f MiB/s)   sftp %6.2f s (%6.1f MiB/s)\n' "$round" \
        "$plugin_s" "$(calc "$SIZE_MIB / $plugin_s")" \
        "$sftp_s" "$(calc "$SIZE_MIB / $sftp_s")"
    PLUGIN_TOTAL=$(calc "$PLUGIN_TOTAL + $plugin_s")
    SFTP_TOTAL=$(calc "$SFTP_TOTAL + $sftp_s")
done
printf 'ratio plugin/sftp throughput over %d rounds of %d MiB: %.2f\n' "$ROUNDS" "$SIZE_MIB" \
    "$(calc "$SFTP_TOTAL / $PLUGIN_TOTAL")"
