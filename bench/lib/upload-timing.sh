# Sourced by bench/sftp-upload.sh and bench/ftp-upload.sh: the alternating timing loop.
#
#   make_payload FILE SIZE_MIB        incompressible payload (AES-CTR of zeros)
#   wait_for_port PORT                until something listens on 127.0.0.1:PORT (10 s)
#   bench_config FILE TARGET TYPE     head of the sauvegarde config: a `bench` job whose one
#                                     destination `loopback` has type TYPE; the caller appends
#                                     the plugin's keys
#   sauvegarde_export DIR TARGET      `sauvegarde export bench DIR/payload.bin` with the config
#                                     DIR/sauvegarde.toml, its log shown on failure
#   alternate_uploads ROUNDS SIZE_MIB BYTES LABEL_A RESULT_A LABEL_B RESULT_B
#
# alternate_uploads calls the caller's functions `upload_a` and `upload_b` in turn, ROUNDS
# times; after each it checks that RESULT_x (the uploaded file, as the server stored it)
# has BYTES bytes, removes it, and finally prints each round and the ratio of total
# throughputs A / B.

make_payload() {
    # openssl dies of SIGPIPE once head has enough: not a failure.
    { openssl enc -aes-128-ctr -pass pass:sauvegarde -nosalt -pbkdf2 -in /dev/zero 2>/dev/null || true; } \
        | head -c $(($2 << 20)) > "$1"
}

wait_for_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on 127.0.0.1:$1" >&2
    exit 1
}

bench_config() {
    local dir
    dir=$(dirname "$1")
    cat > "$1" <<TOML
backup_dir = "$dir/backups"
state_dir = "$dir/state"
plugin_dirs = ["$2"]
[jobs.bench]
database = "bench"
filestore = "none"
[jobs.bench.destinations.loopback]
type = "$3"
TOML
}

sauvegarde_export() {
    "$2/sauvegarde" --config "$1/sauvegarde.toml" export bench "$1/payload.bin" 2>>"$1/sauvegarde.log" \
        || { cat "$1/sauvegarde.log" >&2; return 1; }
}

_now() { date +%s.%N; }
_calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }

_timed_upload() {  # _timed_upload FUNCTION RESULT BYTES LABEL -> prints seconds
    local start seconds
    start=$(_now)
    "$1" >/dev/null
    seconds=$(_calc "$(_now) - $start")
    [ "$(stat -c %s "$2" 2>/dev/null)" = "$3" ] || { echo "$4 upload incomplete: $2" >&2; exit 1; }
    rm -f "$2"
    echo "$seconds"
}

alternate_uploads() {
    local rounds=$1 mib=$2 bytes=$3 label_a=$4 result_a=$5 label_b=$6 result_b=$7
    local total_a=0 total_b=0 round a b
    for round in $(seq "$rounds"); do
        a=$(_timed_upload upload_a "$result_a" "$bytes" "$label_a")
        b=$(_timed_upload upload_b "$result_b" "$bytes" "$label_b")
        printf 'round %d: %s %6.2f s (%6.1f MiB/s)   %s %6.2f s (%6.1f MiB/s)\n' "$round" \
            "$label_a" "$a" "$(_calc "$mib / $a")" "$label_b" "$b" "$(_calc "$mib / $b")"
        total_a=$(_calc "$total_a + $a")
        total_b=$(_calc "$total_b + $b")
    done
    printf 'ratio %s/%s throughput over %d rounds of %d MiB: %.2f\n' "$label_a" "$label_b" \
        "$rounds" "$mib" "$(_calc "$total_b / $total_a")"
}
