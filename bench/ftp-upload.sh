#!/usr/bin/env bash
# FTPS upload throughput: `sauvegarde export` (the release host binary loading the ftp
# plugin, `tls = "required"`) against `curl -T --ssl-reqd`, both uploading the same file to
# the same throwaway loopback vsftpd (explicit TLS forced, require_ssl_reuse=YES,
# self-signed certificate given to both as the CA), alternating, in one run. (curl cannot
# talk to pyftpdlib's TLS data connections, hence vsftpd.)
#
#   bench/ftp-upload.sh [SIZE_MIB=1024] [ROUNDS=3]
#
# Prints each run's time and the ratio of total throughputs (sauvegarde / curl); the goal is
# >= 0.9. Needs root (creates the test account), vsftpd, openssl, curl. The timing loop is
# bench/lib/upload-timing.sh.
set -euo pipefail

SIZE_MIB=${1:-1024}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
USER_NAME=sgtest-ftp      # the vsftpd account of tests/harness/ftp.rs
PASSWORD=Ftp-test-pw-9Zk

# shellcheck source=bench/lib/upload-timing.sh
. "$ROOT/bench/lib/upload-timing.sh"

cargo build --quiet --release --manifest-path "$ROOT/Cargo.toml" -p sauvegarde --bin sauvegarde \
    -p sauvegarde-ftp --lib
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release

T=$(mktemp -d /tmp/sauvegarde-ftp-bench.XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$T"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=serverAuth \
    -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
# The vsftpd account of tests/harness/ftp.rs, created the same way if missing.
if ! id -u "$USER_NAME" >/dev/null 2>&1; then
    useradd -M -d /var/lib/sgtest-ftp -s /bin/sh "$USER_NAME" || id -u "$USER_NAME" >/dev/null
fi
install -d -m 755 -o "$USER_NAME" /var/lib/sgtest-ftp
echo "$USER_NAME:$PASSWORD" | chpasswd
install -d -m 755 /var/run/vsftpd/empty
chmod 755 "$T"
install -d -m 755 -o "$USER_NAME" "$T/data"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
PASV_MIN=$(( $(free_port) - 20 ))
cat > "$T/vsftpd.conf" <<CFG
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$PORT
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
local_root=$T/data
seccomp_sandbox=NO
secure_chroot_dir=/var/run/vsftpd/empty
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=$PASV_MIN
pasv_max_port=$((PASV_MIN + 19))
ssl_enable=YES
force_local_logins_ssl=YES
force_local_data_ssl=YES
require_ssl_reuse=YES
rsa_cert_file=$T/cert.pem
rsa_private_key_file=$T/key.pem
xferlog_enable=NO
pam_service_name=vsftpd
CFG
/usr/sbin/vsftpd "$T/vsftpd.conf" 2>"$T/server.log" &
SERVER_PID=$!
wait_for_port "$PORT"

echo "generating a ${SIZE_MIB} MiB file"
make_payload "$T/payload.bin" "$SIZE_MIB"
BYTES=$(stat -c %s "$T/payload.bin")

bench_config "$T/sauvegarde.toml" "$TARGET" ftp
cat >> "$T/sauvegarde.toml" <<TOML
host = "127.0.0.1"
port = $PORT
user = "$USER_NAME"
password = "$PASSWORD"
tls = "required"
ca_file = "$T/cert.pem"
retries = 0
TOML

upload_a() { sauvegarde_export "$T" "$TARGET"; }
upload_b() {
    curl -sS --ssl-reqd --cacert "$T/cert.pem" -u "$USER_NAME:$PASSWORD" \
        -T "$T/payload.bin" "ftp://127.0.0.1:$PORT/curl.bin"
}
alternate_uploads "$ROUNDS" "$SIZE_MIB" "$BYTES" sauvegarde "$T/data/payload.bin" curl "$T/data/curl.bin"
