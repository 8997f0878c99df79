#!/usr/bin/env bash
# FTPS upload throughput: the sauvegarde ftp plugin (loaded through the plugin ABI by
# plugins/ftp/examples/upload.rs) against `curl -T --ssl-reqd`, both uploading the same file
# to the same throwaway loopback vsftpd (explicit TLS forced, require_ssl_reuse=YES,
# self-signed certificate given to both as the CA), alternating, in one run. (curl cannot
# talk to pyftpdlib's TLS data connections, hence vsftpd.)
#
#   bench/ftp-upload.sh [SIZE_MIB=1024] [ROUNDS=3]
#
# Prints each run's time and the ratio of total throughputs (plugin / curl); the goal is
# >= 0.9. Needs root (creates the test account), vsftpd, openssl, curl. Uses the debug build of
# the plugin: rustls/ring are optimised there (profile.dev.package."*").
set -euo pipefail

SIZE_MIB=${1:-1024}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
USER_NAME=sgtest-ftp      # the vsftpd account of tests/harness/ftp.rs
PASSWORD=Ftp-test-pw-9Zk

cargo build --quiet --manifest-path "$ROOT/Cargo.toml" -p sauvegarde-ftp --lib --example upload
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/debug
PLUGIN=$TARGET/libsauvegarde_ftp.so
UPLOAD=$TARGET/examples/upload

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
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

echo "generating a ${SIZE_MIB} MiB file"
# openssl dies of SIGPIPE once head has enough: not a failure.
{ openssl enc -aes-128-ctr -pass pass:sauvegarde -nosalt -pbkdf2 -in /dev/zero 2>/dev/null || true; } \
    | head -c $((SIZE_MIB << 20)) > "$T/payload.bin"
BYTES=$(stat -c %s "$T/payload.bin")

cat > "$T/config.json" <<CFG
{"host": "127.0.0.1", "port": $PORT, "user": "$USER_NAME", "password": "$PASSWORD",
 "tls": "required", "ca_file": "$T/cert.pem"}
CFG

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
PLUGIN_TOTAL=0
CURL_TOTAL=0
for round in $(seq "$ROUNDS"); do
    start=$(now)
    "$UPLOAD" "$PLUGIN" "$T/config.json" "$T/payload.bin" plugin.bin >/dev/null
    plugin_s=$(calc "$(now) - $start")
    [ "$(stat -c %s "$T/data/plugin.bin")" = "$BYTES" ] || { echo "plugin upload incomplete" >&2; exit 1; }
    rm -f "$T/data/plugin.bin"

    start=$(now)
    curl -sS --ssl-reqd --cacert "$T/cert.pem" -u "$USER_NAME:$PASSWORD" \
        -T "$T/payload.bin" "ftp://127.0.0.1:$PORT/curl.bin"
    curl_s=$(calc "$(now) - $start")
    [ "$(stat -c %s "$T/data/curl.bin")" = "$BYTES" ] || { echo "curl upload incomplete" >&2; exit 1; }
    rm -f "$T/data/curl.bin"

    printf 'round %d: plugin %6.2f s (%6.1f MiB/s)   curl %6.2f s (%6.1f MiB/s)\n' "$round" \
        "$plugin_s" "$(calc "$SIZE_MIB / $plugin_s")" \
        "$curl_s" "$(calc "$SIZE_MIB / $curl_s")"
    PLUGIN_TOTAL=$(calc "$PLUGIN_TOTAL + $plugin_s")
    CURL_TOTAL=$(calc "$CURL_TOTAL + $curl_s")
done
printf 'ratio plugin/curl throughput over %d rounds of %d MiB: %.2f\n' "$ROUNDS" "$SIZE_MIB" \
    "$(calc "$CURL_TOTAL / $PLUGIN_TOTAL")"
