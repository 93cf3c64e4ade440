#!/usr/bin/env bash
# Requests per second through nginx with one and with two replicas of a
# release `orgscope serve` on one PostgreSQL database, on a mixed load (95%
# reads, 5% writes) by a user in 3 of 20 orgs; beside the same load sent
# straight to one replica (no nginx) in the same run.
# Usage: scripts/bench-replicas.sh [SECONDS] [CONNECTIONS]   (default 20, 64)
# PostgreSQL: ORGSCOPE_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres);
# a database orgscope_bench_<pid> is created there and dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
conns=${2:-64}
admin_url=${ORGSCOPE_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
command -v psql >/dev/null || { echo "psql is needed: apt-get install -y postgresql-client" >&2; exit 1; }
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || { echo "nginx is needed: apt-get install -y nginx" >&2; exit 1; }
work=$(mktemp -d /tmp/orgscope-bench-replicas.XXXXXX)
db=orgscope_bench_$$
db_url="${admin_url%/*}/$db"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  sleep 0.5
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

cargo build --release -q -p orgscope
psql "$admin_url" -qc "CREATE DATABASE $db" >/dev/null
# Replicas share the database and the data dir (its master key; this load
# stores no blobs). The second starts once the first has bootstrapped.
start_replica() {
  local log
  port=$(free_port)
  log="$work/replica-$port.log"
  ORGSCOPE_ADMIN_PASSWORD=bench-password ORGSCOPE_LOG=warn ORGSCOPE_DATABASE_URL="$db_url" \
    target/release/orgscope serve --data-dir "$work/data" --listen "127.0.0.1:$port" > "$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do grep -q "listening on" "$log" 2>/dev/null && break; sleep 0.1; done
  grep -q "listening on" "$log" || { cat "$log" >&2; exit 1; }
}
start_replica; one=$port
start_replica; two=$port
url="http://127.0.0.1:$one"

j() { python3 -c "import sys,json; print(json.load(sys.stdin)$1)"; }
login() { curl -fs "$url/api/v1/auth/login" -H 'content-type: application/json' -d "{\"username\":\"$1\",\"password\":\"$2\"}" | j '["token"]'; }
admin=$(login admin bench-password)
post() { curl -fs "$url/api/v1/$1" -H "authorization: Bearer $admin" -H 'content-type: application/json' -d "$2" >/dev/null; }
echo "populating: 20 orgs, 100 hosts each, a user in 3 of them" >&2
for o in $(seq 1 20); do post orgs "{\"slug\":\"o$o\",\"name\":\"Org $o\"}"; done
post users '{"username":"bench","password":"bench-password-1","role":"user"}'
for o in 1 2 3; do post "orgs/o$o/members" '{"user":"bench","can_manage":false}'; done
seq 1 2000 | xargs -P 4 -I{} sh -c 'curl -fs "$0/api/v1/hosts" -H "authorization: Bearer $1" -H "content-type: application/json" \
  -d "{\"name\":\"h{}\",\"org\":\"o$(( {} % 20 + 1 ))\",\"address\":\"10.0.{}.1\"}" >/dev/null' "$url" "$admin"
token=$(login bench bench-password-1)
ids=$(curl -fs "$url/api/v1/hosts?org=o1&limit=50" -H "authorization: Bearer $token" \
  | python3 -c 'import sys,json; print(",".join("\"%s\"" % h["id"] for h in json.load(sys.stdin)["items"]))')

# 95% reads (a listing over the user's orgs, one org's page, one host, /me),
# 5% writes (a new host in one of the user's orgs). wrk counts what is not 2xx.
cat > "$work/mixed.lua" <<LUA
local ids = { $ids }
n = 0
thread_id = 0
threads = 0
function setup(thread) threads = threads + 1; thread:set("thread_id", threads) end
wrk.headers["authorization"] = "Bearer $token"
wrk.headers["content-type"] = "application/json"
request = function()
  n = n + 1
  local r = math.random(100)
  if r <= 5 then
    local body = string.format('{"name":"w%d-%d","org":"o%d","address":"10.9.9.9"}', thread_id, n, (n % 3) + 1)
    return wrk.format("POST", "/api/v1/hosts", nil, body)
  elseif r <= 40 then
    return wrk.format("GET", "/api/v1/hosts?limit=50")
  elseif r <= 65 then
    return wrk.format("GET", "/api/v1/hosts?org=o2&limit=50")
  elseif r <= 90 then
    return wrk.format("GET", "/api/v1/hosts/" .. ids[math.random(#ids)])
  else
    return wrk.format("GET", "/api/v1/me")
  end
end
LUA

nginx_on() {
  local port conf servers=""
  port=$(free_port)
  for p in "$@"; do servers="$servers server 127.0.0.1:$p;"; done
  mkdir -p "$work/tmp"
  [ -f "$work/nginx.pid" ] && { kill "$(cat "$work/nginx.pid")"; sleep 0.5; }
  cat > "$work/nginx.conf" <<CONF
worker_processes 1;
error_log $work/error.log;
pid $work/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/tmp/body; proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fastcgi; uwsgi_temp_path $work/tmp/uwsgi; scgi_temp_path $work/tmp/scgi;
  upstream orgscope { $servers keepalive 64; }
  server {
    listen 127.0.0.1:$port;
    client_max_body_size 0;
    location / {
      proxy_pass http://orgscope;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
CONF
  "$nginx" -c "$work/nginx.conf" -g "user root root;"
  sleep 0.5
  echo "$port"
}
# CPU time (clock ticks) of the whole machine, of the replicas, of PostgreSQL
# (with its ended backends, counted in the postmaster's children's time).
ticks() { cat "$@" 2>/dev/null | awk '{ t += $14 + $15 + $16 + $17 } END { print t + 0 }'; }
cpu() {
  local pg
  pg=$(pgrep -d ' ' -x postgres | sed 's|\([0-9]*\)|/proc/\1/stat|g')
  echo "$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat) \
$(ticks $(printf '/proc/%s/stat ' "${pids[@]}")) $(ticks $pg)"
}
run() {
  echo "== $1 ($secs s, $conns connections, 2 threads, mixed 95/5)"
  local before after
  before=$(cpu)
  wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$work/mixed.lua" "$2" \
    | grep -E 'Requests/sec|Latency|50%|90%|99%|requests in|Non-2xx|Socket errors'
  after=$(cpu)
  python3 -c '
import sys
b, a = [list(map(int, x.split())) for x in sys.argv[1:3]]
busy, rep, pg = (a[i] - b[i] for i in range(3))
print(f"  CPU busy: {busy / 100 / int(sys.argv[3]) / int(sys.argv[4]):.0%} of {sys.argv[4]} cores; of that, orgscope {rep / busy:.0%}, PostgreSQL {pg / busy:.0%}, the rest (nginx, wrk) {1 - (rep + pg) / busy:.0%}")
' "$before" "$after" "$secs" "$(nproc)"
}
# Warm both replicas' pools and caches.
wrk -t2 -c16 -d3s -s "$work/mixed.lua" "http://127.0.0.1:$one" >/dev/null
wrk -t2 -c16 -d3s -s "$work/mixed.lua" "http://127.0.0.1:$two" >/dev/null
run "one replica, straight (no nginx)" "http://127.0.0.1:$one"
run "nginx, one replica" "http://127.0.0.1:$(nginx_on "$one")"
run "nginx, two replicas (round robin)" "http://127.0.0.1:$(nginx_on "$one" "$two")"
for p in "${pids[@]}"; do
  echo "replica $p peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$p/status")"
done
