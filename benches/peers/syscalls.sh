#!/usr/bin/env bash
# Syscalls per request of lb's proxies, nginx and HAProxy, counted with `strace -c -f`
# during a 3 s wrk run (20 connections) against the same nginx backend.
#
#   cargo build --release --examples
#   bash benches/peers/syscalls.sh [close|keepalive] [lb-l4 nginx-stream haproxy-tcp lb-l7 nginx-http haproxy-http]
#
# (also lb-l7-nodefer: http_router without TCP_DEFER_ACCEPT)
#
# strace slows every proxy down (each syscall stops the process), so the request rates are
# meaningless and batching differs from a free run (fewer `epoll_wait`s per request); the
# counts per request are what to compare. Ports 28080 (proxy) and 28091-28093 (backends) must
# be free. Needs nginx (+ libnginx-mod-stream), haproxy, wrk, strace.
set -euo pipefail

MODE=${1:-close}
shift || true
SCENARIOS=${*:-lb-l4 nginx-stream haproxy-tcp lb-l7 nginx-http haproxy-http}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=$ROOT/target/release/examples
RUN=$(mktemp -d /tmp/lb-syscalls.XXXXXX)
mkdir -p "$RUN/tmp"
PORT=28080
B1=28091 B2=28092 B3=28093
STREAM_MODULE=$(ls /usr/lib/nginx/modules/ngx_stream_module.so /usr/lib64/nginx/modules/ngx_stream_module.so 2>/dev/null | head -1 || true)

render() { # conf-file -> rendered path
    local out=$RUN/$(basename "$1")
    sed -e "s#@RUNDIR@#$RUN#g; s#@PORT@#$PORT#g; s#@B1@#$B1#g; s#@B2@#$B2#g; s#@B3@#$B3#g; s#@STATUS@#28099#g; s#@DEFERRED@##g; s#@DEFER_ACCEPT@##g" \
        -e "s#@STREAM_MODULE@#$STREAM_MODULE#g" -e "s#@[A-Z_0-9]*@#0#g" "$1" > "$out"
    echo "$out"
}

backend_pid=""
leader=""
cleanup() {
    [ -n "$leader" ] && kill -KILL -- "-$leader" 2> /dev/null || true
    [ -n "$backend_pid" ] && kill "$backend_pid" 2> /dev/null || true
    rm -rf "$RUN"
}
trap cleanup EXIT

nginx -p "$RUN" -e "$RUN/backend.err" -c "$(render "$HERE/conf/backend.conf")" -g 'daemon off;' &
backend_pid=$!
sleep 1

backends="127.0.0.1:$B1,127.0.0.1:$B2,127.0.0.1:$B3"
command_of() {
    case $1 in
        lb-l4) echo "$BIN/tcp_proxy --listen 127.0.0.1:$PORT --backend 127.0.0.1:$B1 --backend 127.0.0.1:$B2 --backend 127.0.0.1:$B3 --threads 1" ;;
        lb-l7) echo "$BIN/http_router --listen 127.0.0.1:$PORT --route /=$backends --threads 1" ;;
        lb-l7-nodefer) echo "$BIN/http_router --listen 127.0.0.1:$PORT --route /=$backends --threads 1 --no-defer-accept" ;;
        nginx-stream) echo "nginx -p $RUN -e $RUN/proxy.err -c $(render "$HERE/conf/nginx-stream.conf") -g 'daemon off;'" ;;
        nginx-http) echo "nginx -p $RUN -e $RUN/proxy.err -c $(render "$HERE/conf/nginx-http.conf") -g 'daemon off;'" ;;
        haproxy-tcp) echo "haproxy -db -f $(render "$HERE/conf/haproxy-tcp.cfg")" ;;
        haproxy-http) echo "haproxy -db -f $(render "$HERE/conf/haproxy-http.cfg")" ;;
        *) echo "unknown scenario $1" >&2; exit 2 ;;
    esac
}

for name in $SCENARIOS; do
    cmd=$(command_of "$name")
    setsid bash -c "exec $cmd" > "$RUN/$name.log" 2>&1 &
    leader=$!
    sleep 1.5
    if ! kill -0 "$leader" 2> /dev/null; then
        echo "$name did not start:" >&2
        cat "$RUN/$name.log" >&2
        exit 1
    fi
    # The proxy and its children (nginx's worker).
    pids="$leader $( (pgrep -P "$leader" || true) | tr '\n' ' ')"
    args=()
    for p in $pids; do args+=(-p "$p"); done
    strace -qq -f -c -o "$RUN/$name.strace" "${args[@]}" &
    tracer=$!
    sleep 0.5
    header=()
    [ "$MODE" = close ] && header=(-H 'Connection: close')
    wrk -t1 -c20 -d3s "${header[@]}" "http://127.0.0.1:$PORT/" > "$RUN/$name.wrk"
    kill -INT "$tracer"
    wait "$tracer" 2> /dev/null || true
    kill -INT -- "-$leader" 2> /dev/null || true
    sleep 0.3
    kill -KILL -- "-$leader" 2> /dev/null || true
    wait "$leader" 2> /dev/null || true
    leader=""
    requests=$(awk '/requests in/ {print $1}' "$RUN/$name.wrk")
    echo "== $name ($MODE): $requests requests"
    awk -v r="$requests" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
            printf "  %-14s %6.2f\n", $NF, $4 / r; t += $4 }
        END { printf "  %-14s %6.2f per request\n", "total", t / r }' "$RUN/$name.strace" |
        sort -k2 -n -r | awk '$2 >= 0.01'
done
