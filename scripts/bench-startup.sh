#!/usr/bin/env bash
# Start-up time of a release `orgscope serve` on the embedded store holding
# FILES files (uploaded through the API), until it listens and until its
# orphan sweep is done, beside the start of an empty installation in the
# same run.
# Usage: scripts/bench-startup.sh [FILES]   (default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-10000}
work=$(mktemp -d /tmp/orgscope-bench-startup.XXXXXX)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

cargo build --release -q -p orgscope
serve() { # DATA_DIR LOG: starts a server in the background
  ORGSCOPE_ADMIN_PASSWORD=bench-password ORGSCOPE_LOG=info \
    target/release/orgscope serve --data-dir "$1" --listen 127.0.0.1:0 > "$2" 2>&1 &
  server=$!
}
wait_for() { # LOG TEXT: seconds until TEXT appears in LOG
  local start
  start=$(date +%s%N)
  for _ in $(seq 1 60000); do grep -q "$2" "$1" 2>/dev/null && break; sleep 0.005; done
  grep -q "$2" "$1" || { echo "never: $2" >&2; cat "$1" >&2; exit 1; }
  python3 -c "import sys; print(f'{(int(sys.argv[2]) - int(sys.argv[1])) / 1e9:.3f}')" "$start" "$(date +%s%N)"
}
stop() { kill -TERM "$server"; wait "$server" || true; server=; }

serve "$work/data" "$work/first.log"
wait_for "$work/first.log" "listening on" >/dev/null
url=$(sed -n 's/^orgscope: listening on \([^ ]*\).*/\1/p' "$work/first.log")
token=$(curl -fs "$url/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"admin","password":"bench-password"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
echo "uploading $files files" >&2
seq 1 "$files" | xargs -P 4 -I{} curl -fs "$url/api/v1/files?name=f{}.txt&org=default" \
  -H "authorization: Bearer $token" -H 'content-type: text/plain' --data-binary 'some words {}' -o /dev/null
stop
ORGSCOPE_ADMIN_PASSWORD=bench-password target/release/orgscope init --data-dir "$work/empty" >/dev/null

for dir in empty data; do
  serve "$work/$dir" "$work/$dir.log"
  listening=$(wait_for "$work/$dir.log" "listening on")
  swept=$(wait_for "$work/$dir.log" "orphan sweep done")
  checked=$(sed -n 's/.*orphan sweep done.*checked=\([0-9]*\).*/\1/p' "$work/$dir.log")
  stop
  echo "$dir: listening after ${listening}s; orphan sweep done ${swept}s later (${checked} blobs checked)"
done
