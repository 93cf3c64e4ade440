#!/usr/bin/env bash
# Fuzzes the API from its own OpenAPI document with schemathesis (PyPI), as a
# plain user with a personal token, against a fresh `orgscope serve`: no 5xx,
# every response matches the document, every error is problem+json. Revoking
# tokens and logging out are left out: the fuzzer would end its own access.
# Usage: scripts/fuzz-api.sh [MAX_EXAMPLES]   (default 20)
# Needs: target/debug/orgscope (cargo build) and schemathesis in .venv-s3.
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-20}
work=$(mktemp -d /tmp/orgscope-fuzz.XXXXXX)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
ORGSCOPE_ADMIN_PASSWORD=fuzz-admin-password ORGSCOPE_LOG=warn \
  target/debug/orgscope serve --data-dir "$work/data" --listen 127.0.0.1:0 > "$work/serve.log" &
server=$!
for _ in $(seq 1 100); do grep -q "listening on" "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^orgscope: listening on \([^ ]*\).*/\1/p' "$work/serve.log")
token=$(python3 - "$url" <<'PY'
import json, sys, urllib.request
url = sys.argv[1]
def call(path, body, token=None):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    if token:
        req.add_header("authorization", "Bearer " + token)
    return json.load(urllib.request.urlopen(req))
admin = call("/api/v1/auth/login", {"username": "admin", "password": "fuzz-admin-password"})["token"]
call("/api/v1/users", {"username": "fuzz", "password": "fuzz-user-password", "default_org": "default"}, admin)
user = call("/api/v1/auth/login", {"username": "fuzz", "password": "fuzz-user-password"})["token"]
# A personal token: the fuzzer may well call logout, which ends sessions only.
print(call("/api/v1/me/tokens", {"name": "fuzz"}, user)["token"])
PY
)
.venv-s3/bin/schemathesis run "$url/api/v1/openapi.json" -H "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance \
  --exclude-operation-id revoke_token --exclude-path /api/v1/auth/logout \
  --max-examples "$examples" --no-color
