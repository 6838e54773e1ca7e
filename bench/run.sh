#!/usr/bin/env bash
# Pass-through benchmark (issue "Foundation", item 9).
#
# wrk on loopback against: the sandbox store direct, nginx (Debian, worker
# processes = gateway worker threads) in front of the same store, and the
# gateway in front of the same store. Workloads: a static GET, and SOAP POSTs
# (NoOpRequest and GetInfoRequest, XML, with an auth cookie) that the gateway
# parses and inspects but does not rewrite. Then the gateway's RSS with 1,000
# idle keep-alive connections.
#
# Usage: bench/run.sh [seconds-per-run (default 10)] [connections (default 64)]
# Needs: nginx-light, wrk, curl, python3 (Debian). Loopback only; bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${2:-64}
THREADS=$(nproc)
for p in nginx wrk curl python3; do
  command -v "$p" >/dev/null || { echo "missing $p (apt-get install nginx-light wrk curl python3)" >&2; exit 1; }
done

TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet
BIN="$TARGET_DIR/release/mssante-gateway"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -f "$WORK/nginx.pid" ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

STORE_PORT=$(free_port); GW_PORT=$(free_port); METRICS_PORT=$(free_port); NGINX_PORT=$(free_port)

STORE_PID=
start_store() { # a fresh store: SendMsg runs fill mailboxes, which slows later runs
  if [[ -n "$STORE_PID" ]]; then kill "$STORE_PID"; wait "$STORE_PID" 2>/dev/null || true; fi
  "$BIN" sandbox --listen "127.0.0.1:$STORE_PORT" >>"$WORK/sandbox.log" 2>&1 &
  STORE_PID=$!
  PIDS+=($STORE_PID)
  wait_port "$STORE_PORT"
}
start_store

cat >"$WORK/gateway.toml" <<EOF
[server]
listen = "127.0.0.1:$GW_PORT"
[upstream]
url = "http://127.0.0.1:$STORE_PORT"
[metrics]
listen = "127.0.0.1:$METRICS_PORT"
[log]
level = "warn"
[policy]
whitelist_source = "$PWD/fixtures/demo/whitelist.xml"
whitelist_min_domains = 10
mssante_domains = ["esantepdl.mssante.fr", "chu-exemple.mssante.fr"]
local_domains = ["esantepdl.mssante.fr", "chu-exemple.mssante.fr"]
[auth.session]
insecure_loopback_demo = true
[auth.store]
data_key_file = "$WORK/data.key"
sqlite_path = "$WORK/state.sqlite3"
EOF
python3 -c 'import secrets; print(secrets.token_hex(32))' >"$WORK/data.key"
if [[ -n "${BENCH_GATEWAY_EXTRA:-}" ]]; then cat "$BENCH_GATEWAY_EXTRA" >>"$WORK/gateway.toml"; fi
"$BIN" serve --config "$WORK/gateway.toml" >"$WORK/gateway.log" 2>&1 &
GW_PID=$!
PIDS+=($GW_PID)
wait_port "$GW_PORT"

mkdir -p "$WORK/nginx-tmp"
cat >"$WORK/nginx.conf" <<EOF
worker_processes $THREADS;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
daemon on;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx-tmp/body;
  proxy_temp_path $WORK/nginx-tmp/proxy;
  fastcgi_temp_path $WORK/nginx-tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx-tmp/uwsgi;
  scgi_temp_path $WORK/nginx-tmp/scgi;
  client_max_body_size 16m;
  upstream store { server 127.0.0.1:$STORE_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://store;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
EOF
nginx -c "$WORK/nginx.conf" -p "$WORK"
wait_port "$NGINX_PORT"

# Direct and nginx: one login at the store. The gateway: one login through the
# gateway (password + TOTP), whose token rides in the same cookie; every gateway
# request is then authenticated (session lookup, store token injected).
ACCOUNT=antoine.lefevre@esantepdl.mssante.fr
SEND_TO=${BENCH_SEND_TO:-dr.dupont@medecin.mssante.fr}
login() {
  local token
  token=$(curl -s -X POST "http://127.0.0.1:$STORE_PORT/service/soap/AuthRequest" \
    -H 'Content-Type: application/soap+xml' \
    --data "{\"Body\":{\"AuthRequest\":{\"_jsns\":\"urn:zimbraAccount\",\"account\":{\"by\":\"name\",\"_content\":\"$ACCOUNT\"},\"password\":{\"_content\":\"Sandbox-2026!\"}}}}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Body"]["AuthResponse"]["authToken"][0]["_content"])')
  STORE_COOKIE="ZM_AUTH_TOKEN=$token"
}
gateway_login() { # a fresh store forgets the store token the gateway session holds
  GATEWAY_COOKIE="ZM_AUTH_TOKEN=$(python3 bench/gateway_login.py "http://127.0.0.1:$GW_PORT" "$1" Sandbox-2026!)"
}
login
gateway_login "$ACCOUNT"

soap_body() {
  printf '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Header><context xmlns="urn:zimbra"/></soap:Header><soap:Body>%s</soap:Body></soap:Envelope>' "$1"
}
soap_body '<NoOpRequest xmlns="urn:zimbraMail"/>' >"$WORK/noop.xml"
soap_body '<GetInfoRequest xmlns="urn:zimbraAccount" sections="mbox"/>' >"$WORK/getinfo.xml"
soap_body '<SendMsgRequest xmlns="urn:zimbraMail"><m><e t="t" a="RECIPIENT"/><su>Compte rendu</su><mp ct="text/plain"><content>Bonjour, voici le compte rendu.</content></mp></m></SendMsgRequest>' |
  sed "s/RECIPIENT/$SEND_TO/" >"$WORK/sendmsg.xml"

run_wrk() { # name url [lua] [body]
  local out cookie=$STORE_COOKIE
  [[ "$1" == gateway ]] && cookie=$GATEWAY_COOKIE
  if [[ -n "${4:-}" ]]; then
    out=$(SOAP_COOKIE="$cookie" SOAP_BODY_FILE="$4" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -s "$3" "$2")
  else
    out=$(SOAP_COOKIE="$cookie" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -s bench/get.lua "$2")
  fi
  echo "$out" | grep '^BENCH' | sed "s/^BENCH/$1/"
}

declare -A RPS
measure() { # label target-name url [lua] [body]
  local line
  line=$(run_wrk "$2" "$3" "${4:-}" "${5:-}")
  printf '%-22s %s\n' "$1" "$line"
  RPS["$1/$2"]=$(echo "$line" | sed -E 's/.*rps=([0-9.]+).*/\1/')
}

echo "wrk: $THREADS threads, $CONNS connections, ${DURATION}s per run; nginx workers = $THREADS; gateway worker threads = $THREADS"
TARGETS=(direct:$STORE_PORT nginx:$NGINX_PORT gateway:$GW_PORT)
for t in "${TARGETS[@]}"; do
  measure static "${t%%:*}" "http://127.0.0.1:${t##*:}/js/app.js"
done
for t in "${TARGETS[@]}"; do
  measure soap-noop "${t%%:*}" "http://127.0.0.1:${t##*:}/service/soap/NoOpRequest" bench/soap_post.lua "$WORK/noop.xml"
done
for t in "${TARGETS[@]}"; do
  measure soap-getinfo "${t%%:*}" "http://127.0.0.1:${t##*:}/service/soap/GetInfoRequest" bench/soap_post.lua "$WORK/getinfo.xml"
done
for t in "${TARGETS[@]}"; do
  start_store; login
  # (a second account: the first one is already enrolled at this gateway)
  if [[ "${t%%:*}" == gateway ]]; then gateway_login adele.alexandre@esantepdl.mssante.fr; fi
  measure soap-sendmsg "${t%%:*}" "http://127.0.0.1:${t##*:}/service/soap/SendMsgRequest" bench/soap_post.lua "$WORK/sendmsg.xml"
done

echo
for w in static soap-noop soap-getinfo soap-sendmsg; do
  python3 -c "import sys; g,n=float(sys.argv[2]),float(sys.argv[3]); print(f'{sys.argv[1]:<14} gateway/nginx = {g/n:.2f}')" \
    "$w" "${RPS[$w/gateway]}" "${RPS[$w/nginx]}"
done
python3 -c "import sys; s,p=float(sys.argv[1]),float(sys.argv[2]); print(f'SOAP inspection (gateway GetInfo / gateway static) = {s/p:.2f}')" \
  "${RPS[soap-getinfo/gateway]}" "${RPS[static/gateway]}"

python3 -c "import sys; s,p=float(sys.argv[1]),float(sys.argv[2]); print(f'SendMsg inspection + rewrite (gateway / nginx) = {s/p:.2f}')" \
  "${RPS[soap-sendmsg/gateway]}" "${RPS[soap-sendmsg/nginx]}"
python3 bench/idle_conns.py 127.0.0.1 "$GW_PORT" 1000 "$GW_PID"
