#!/usr/bin/env bash
# `orgscope migrate` throughput: a populated embedded installation (hosts,
# their audit, text files with their knowledge) copied to PostgreSQL and to an
# S3-compatible bucket (moto from .venv-s3, as in CI), beside the raw limits
# measured in the same run: psql loading a data-only pg_dump of the same rows
# (COPY, triggers off) and boto3 uploading the same blobs to the same bucket.
# Usage: scripts/bench-migrate.sh [HOSTS] [FILES] [KIB_PER_FILE]   (default 20000 100 1024)
# PostgreSQL: ORGSCOPE_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${1:-20000}
files=${2:-100}
kib=${3:-1024}
admin_url=${ORGSCOPE_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
for tool in psql pg_dump; do
  command -v $tool >/dev/null || { echo "$tool is needed: apt-get install -y postgresql-client" >&2; exit 1; }
done
[ -x .venv-s3/bin/moto_server ] || { echo "moto is needed: python3 -m venv .venv-s3 && .venv-s3/bin/pip install 'moto[server]'" >&2; exit 1; }
work=$(mktemp -d /tmp/orgscope-bench-migrate.XXXXXX)
db=orgscope_bench_migrate_$$
raw=${db}_raw
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for d in "$db" "$raw"; do psql "$admin_url" -qc "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

cargo build --release -q -p orgscope
ORGSCOPE_ADMIN_PASSWORD=bench-password ORGSCOPE_LOG=warn \
  target/release/orgscope serve --data-dir "$work/data" --listen 127.0.0.1:0 > "$work/serve.log" 2>&1 &
server=$!
pids+=($server)
for _ in $(seq 1 100); do grep -q "listening on" "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^orgscope: listening on \([^ ]*\).*/\1/p' "$work/serve.log")
j() { python3 -c "import sys,json; print(json.load(sys.stdin)$1)"; }
admin=$(curl -fs "$url/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"admin","password":"bench-password"}' | j '["token"]')
post() { curl -fs "$url/api/v1/$1" -H "authorization: Bearer $admin" -H 'content-type: application/json' -d "$2" >/dev/null; }

echo "populating: 20 orgs, $hosts hosts, $files text files of $kib KiB" >&2
for o in $(seq 1 20); do post orgs "{\"slug\":\"o$o\",\"name\":\"Org $o\"}"; done
seq 1 "$hosts" | xargs -P 4 -I{} sh -c 'curl -fs "$0/api/v1/hosts" -H "authorization: Bearer $1" -H "content-type: application/json" \
  -d "{\"name\":\"h{}\",\"org\":\"o$(( {} % 20 + 1 ))\",\"address\":\"10.0.0.1\"}" >/dev/null' "$url" "$admin"
mkdir -p "$work/texts"
python3 - "$work/texts" "$files" "$kib" <<'PY'
import random, sys
out, files, kib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(7)
syl = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "da", "fu"]
vocab = [a + b + c for a in syl for b in syl for c in syl]
for i in range(files):
    words, size = [], 0
    while size < kib * 1024:
        line = " ".join(rng.choice(vocab) for _ in range(12)) + ".\n"
        words.append(line)
        size += len(line)
    open(f"{out}/doc{i}.txt", "w").write("".join(words))
PY
ls "$work/texts" | xargs -P 2 -I{} sh -c 'curl -fs "$0/api/v1/files?name={}&org=o$(( $(echo {} | tr -dc 0-9) % 20 + 1 ))" \
  -H "authorization: Bearer $1" -H "content-type: text/plain" --data-binary "@$2/{}" >/dev/null' "$url" "$admin" "$work/texts"
echo "waiting for extraction" >&2
for _ in $(seq 1 1200); do
  left=0
  for state in pending running; do
    n=$(curl -fs "$url/api/v1/files?org=all&extraction=$state&limit=1" -H "authorization: Bearer $admin" | j '["items"].__len__()')
    left=$((left + n))
  done
  [ "$left" = 0 ] && break
  sleep 1
done
kill -TERM "$server"; wait "$server" || true

s3_port=$(free_port)
.venv-s3/bin/moto_server -H 127.0.0.1 -p "$s3_port" > "$work/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$s3_port/" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs -X PUT "http://127.0.0.1:$s3_port/bench" >/dev/null
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
psql "$admin_url" -qc "CREATE DATABASE $db" >/dev/null
target="${admin_url%/*}/$db"

echo "== orgscope migrate (SQLite + local blobs -> PostgreSQL + S3)"
ORGSCOPE_S3_BUCKET=bench ORGSCOPE_S3_ENDPOINT="http://127.0.0.1:$s3_port" \
  target/release/orgscope migrate --from "$work/data" --to "$target" 2>/dev/null | grep copied | tee "$work/migrate.out"

echo "== raw limits (same run)"
# The same rows: a data-only dump of the copy loaded into an empty database
# with the same schema (made from the copy, then emptied).
pg_dump -a --disable-triggers -f "$work/data.sql" "$target"
psql "$admin_url" -qc "CREATE DATABASE $raw TEMPLATE $db" >/dev/null
tables=$(psql "${admin_url%/*}/$raw" -tAc "SELECT string_agg(quote_ident(tablename), ',') FROM pg_tables WHERE schemaname = 'public'")
psql "${admin_url%/*}/$raw" -qc "TRUNCATE $tables" >/dev/null
rows=$(sed -n 's/^copied \([0-9]*\) rows.*/\1/p' "$work/migrate.out")
start=$(date +%s.%N)
psql -q "${admin_url%/*}/$raw" -f "$work/data.sql" >/dev/null
end=$(date +%s.%N)
python3 -c "import sys; r,s,e=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'psql loading pg_dump -a of the same {r} rows: {e-s:.1f}s ({r/(e-s):.0f} rows/s)')" "$rows" "$start" "$end"
# The same blobs, uploaded to the same bucket under another prefix.
.venv-s3/bin/python - "$work/data/blobs" "http://127.0.0.1:$s3_port" <<'PY'
import boto3, os, sys, time
root, endpoint = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=endpoint)
paths = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
size = sum(os.path.getsize(p) for p in paths)
t = time.time()
for i, p in enumerate(paths):
    s3.upload_file(p, "bench", f"raw/{i}")
secs = time.time() - t
print(f"boto3 uploading the same {len(paths)} blobs ({size / 2**20:.1f} MiB): {secs:.1f}s ({size / 2**20 / secs:.1f} MiB/s)")
PY
