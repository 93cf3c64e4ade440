#!/usr/bin/env bash
# Gateway check throughput and latency (wrk over loopback) against a release
# `orgscope serve` on the embedded store, beside nginx answering a static 204
# in the same run (the ceiling of this machine and tool).
# Usage: scripts/bench-gateway.sh [SECONDS] [CONNECTIONS]   (default 10, 32)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-32}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || { echo "nginx is needed: apt-get install -y nginx" >&2; exit 1; }
work=$(mktemp -d /tmp/orgscope-bench-gateway.XXXXXX)
cleanup() { kill "$server" 2>/dev/null || true; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

cargo build --release -q -p orgscope
ORGSCOPE_ADMIN_PASSWORD=bench-password ORGSCOPE_LOG=warn \
  target/release/orgscope serve --data-dir "$work/data" --listen 127.0.0.1:0 > "$work/serve.log" &
server=$!
for _ in $(seq 1 100); do grep -q "listening on" "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^orgscope: listening on \([^ ]*\).*/\1/p' "$work/serve.log")
j() { python3 -c "import sys,json; print(json.load(sys.stdin)$1)"; }
token=$(curl -fs "$url/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"admin","password":"bench-password"}' | j '["token"]')
post() { curl -fs "$url/api/v1/$1" -H "authorization: Bearer $token" -H 'content-type: application/json' -d "$2"; }
api=$(post api-definitions '{"name":"bench","org":"default","listen_path":"/bench/","upstream_url":"http://127.0.0.1:9/"}' | j '["id"]')
dev=$(post developers '{"name":"bench","org":"default","email":"bench@example.com"}' | j '["id"]')
key=$(post consumer-keys "{\"name\":\"bench\",\"org\":\"default\",\"developer\":\"$dev\",\"apis\":[\"$api\"]}" | j '["token"]')
# The org's own API gateway: the check names it by its secret.
gw=$(post api-gateways '{"name":"bench","org":"default"}' | j '["token"]')
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/api/v1/gateway/check" -H "x-orgscope-gateway: $gw" -H "x-api-key: $key" -H 'x-original-uri: /bench/x' -H 'x-original-method: GET')
[ "$code" = 204 ] || { echo "the check answered $code, not 204" >&2; exit 1; }

echo "== orgscope gateway check ($secs s, $conns connections, 2 threads)"
wrk -t2 -c"$conns" -d"${secs}s" --latency -H "x-orgscope-gateway: $gw" -H "x-api-key: $key" -H 'x-original-uri: /bench/x' \
  -H 'x-original-method: GET' "$url/api/v1/gateway/check" | grep -E 'Requests/sec|Latency|50%|90%|99%|requests in|Non-2xx'

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/tmp"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
error_log $work/error.log;
pid $work/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/tmp/body; proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fastcgi; uwsgi_temp_path $work/tmp/uwsgi; scgi_temp_path $work/tmp/scgi;
  server { listen 127.0.0.1:$port; location / { return 204; } }
}
CONF
"$nginx" -c "$work/nginx.conf" -g "user root root;"
sleep 0.5
echo "== nginx static 204 (same run, same wrk settings)"
wrk -t2 -c"$conns" -d"${secs}s" --latency "http://127.0.0.1:$port/" | grep -E 'Requests/sec|Latency|50%|90%|99%|requests in'
