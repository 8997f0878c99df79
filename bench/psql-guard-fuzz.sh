#!/usr/bin/env bash
# Differential fuzzing of the psql meta-command guard (`sauvegarde::verify::psql`) against
# the real psql 15 (Debian) and psql 16.2 (scripts/install-test-deps): INPUTS generated
# dump-like inputs from SEED, each with a payload that touches a marker file, each run with
# plain `psql -X -f` (the first 20 also without -X) in a schema of its own on a throwaway
# PostgreSQL 15 cluster, and read by the guard. Prints the inputs, how many ran their
# payload under each psql, the disagreements (psql ran it, the guard passed the input: must
# be 0; the test fails and prints them otherwise), the false alarms and the throughput.
#
#   bench/psql-guard-fuzz.sh [INPUTS=100000] [SEED=20250827] [JOBS=2]
#
# Needs root (or a user that can run initdb), PostgreSQL 15 in /usr/lib/postgresql/15/bin
# and psql 16.2 under /opt/sauvegarde-test-tools. Builds the test in the release profile.
set -euo pipefail

INPUTS=${1:-100000}
SEED=${2:-20250827}
JOBS=${3:-2}
cd "$(dirname "$0")/.."

SAUVEGARDE_FUZZ_INPUTS=$INPUTS SAUVEGARDE_FUZZ_SEED=$SEED SAUVEGARDE_FUZZ_JOBS=$JOBS \
    cargo test --release -p sauvegarde-tests --test psql_guard_fuzz -- --nocapture --test-threads 1 2>&1 \
    | grep -E '^(psql guard fuzz|test |seed |psql ran|thread)' 
