#!/usr/bin/env bash
# Upload throughput and peak memory of `orgscope serve` for one large file,
# beside `cp` of the same file on the same disk, in the same run: ROUNDS
# rounds of one `cp` then one upload, alternating, and the medians (this
# machine's disk alone varies 3x between copies).
# Usage: scripts/bench-upload.sh [SIZE_MIB] [ROUNDS]   (default 1024, 5)
# ORGSCOPE_BIN=path measures that binary instead of a fresh release build.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
rounds=${2:-5}
work=$(mktemp -d "${TMPDIR:-/tmp}/orgscope-bench-upload.XXXXXX")
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

bin=${ORGSCOPE_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -q -p orgscope
  bin=target/release/orgscope
fi

echo "making a ${size_mib} MiB file"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/big.bin"
sync

ORGSCOPE_ADMIN_PASSWORD=bench-password ORGSCOPE_LOG=warn \
  "$bin" serve --data-dir "$work/data" --listen 127.0.0.1:0 > "$work/serve.log" &
server=$!
for _ in $(seq 1 100); do grep -q "listening on" "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^orgscope: listening on \([^ ]*\).*/\1/p' "$work/serve.log")
token=$(curl -fs "$url/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"admin","password":"bench-password"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
rss_before=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")

cp_ms=() up_ms=()
for round in $(seq 1 "$rounds"); do
  # Each timed step writes back only its own bytes.
  sync
  start=$(date +%s%N)
  cp "$work/big.bin" "$work/copy.bin"
  sync
  cp_ms+=($(( ($(date +%s%N) - start) / 1000000 )))
  rm "$work/copy.bin"
  sync
  start=$(date +%s%N)
  curl -fs "$url/api/v1/files?name=big-$round.bin&org=default" -H "authorization: Bearer $token" \
    -H 'content-type: application/octet-stream' -X POST --upload-file "$work/big.bin" > "$work/upload.json"
  sync
  up_ms+=($(( ($(date +%s%N) - start) / 1000000 )))
  echo "round $round: cp ${cp_ms[-1]} ms, upload ${up_ms[-1]} ms"
  # Removed like the copy, so every round finds the disk and the page
  # cache as the last left them.
  id=$(python3 -c 'import sys,json; print(json.load(open(sys.argv[1]))["id"])' "$work/upload.json")
  curl -fs -X DELETE "$url/api/v1/files/$id" -H "authorization: Bearer $token" > /dev/null
done
rss_peak=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")

python3 - "$size_mib" "${cp_ms[*]}" "${up_ms[*]}" "$rss_before" "$rss_peak" "$work/upload.json" <<'PY'
import json, statistics, sys
mib, cps, ups, before, peak, out = sys.argv[1:]
mib = float(mib)
cp = statistics.median(int(x) for x in cps.split()) / 1000
up = statistics.median(int(x) for x in ups.split()) / 1000
f = json.load(open(out))
assert f["size"] == int(mib * 1024 * 1024), f
print(f"file: {mib:.0f} MiB, sha256 {f['sha256'][:16]}…; medians of {len(cps.split())} rounds")
print(f"cp:     {cp:6.2f} s  {mib / cp:7.1f} MiB/s")
print(f"upload: {up:6.2f} s  {mib / up:7.1f} MiB/s  ({cp / up * 100:.0f}% of cp)")
print(f"server peak RSS: {int(peak) / 1024:.1f} MiB (before the uploads: {int(before) / 1024:.1f} MiB, growth {(int(peak) - int(before)) / 1024:.1f} MiB)")
PY
