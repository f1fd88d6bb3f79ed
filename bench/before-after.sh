#!/bin/bash
# Before/after of issue 8 ("many nodes, one log"), in ONE run, old and new alternating in rounds.
#   OLD=/path/to/old/packages/cli/dist/bin.js NEW=packages/cli/dist/bin.js bench/before-after.sh
# Each line printed is one JSON measurement; the server under test is started, measured from
# /proc (utime+stime of it and its direct children, i.e. cluster workers; RSS summed) and stopped.
#   fan LABEL BIN [serve args]: `herald bench` (always NEW's) with SUBS subscribers (1000), RATE
#     events/s (100) for DUR s (10) -> server CPU seconds per delivery (connects included).
#   pub LABEL BIN memory|sqlite [serve args]: wrk -t1 -c32 (pinned to CPU 1) POSTing one
#     128-byte event per request for PDUR s (6) after a 2 s warm-up -> publishes/s, and the
#     server's CPU microseconds per publish over the measured run (what a loaded machine
#     distorts least: throughput there follows the other tenants).
# Env: ROUNDS (3), STORE for fan (memory), PARTS (any of fan, pub, workers; default all
# three). Needs wrk, curl, taskset.
set -u
OLD=${OLD:?path of the old tree\'s packages/cli/dist/bin.js}; NEW=${NEW:?path of the new bin.js}
HERE=$(cd "$(dirname "$0")" && pwd)
start() { # BIN STORE args... -> sets SPID PORT DIR
  local bin=$1 store=$2; shift 2
  PORT=$((20000 + RANDOM % 20000)); DIR=$(mktemp -d)
  [ "$store" = sqlite ] && store="sqlite:$DIR/h.db"
  (cd "$DIR" && exec node "$bin" serve --port $PORT --store "$store" --heartbeat 0 \
    --publish-rate 0 --log-level warn "$@" > "$DIR/serve.log" 2>&1) &
  SPID=$!
  for _ in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:$PORT/health && break; sleep 0.2; done
}
stop() { kill -TERM $SPID; wait $SPID 2>/dev/null; rm -rf "$DIR"; }
cpu() { local t=0 s; for p in $SPID $(pgrep -P $SPID); do
  s=$(cut -d' ' -f14,15 /proc/$p/stat 2>/dev/null) || continue; set -- $s; t=$((t+$1+$2)); done; echo $t; }
rss() { local t=0 r; for p in $SPID $(pgrep -P $SPID); do
  r=$(awk '/VmRSS/{print $2}' /proc/$p/status 2>/dev/null); t=$((t+${r:-0})); done; echo $t; }
fan() {
  local label=$1 bin=$2; shift 2; start "$bin" "${STORE:-memory}" "$@"; sleep 1
  local c0 c1 out; c0=$(cpu)
  out=$(node "$NEW" bench --url "http://127.0.0.1:$PORT/events?topic=bench" \
    --publish-url http://127.0.0.1:$PORT/publish --subscribers ${SUBS:-1000} --rate ${RATE:-100} \
    --duration ${DUR:-10} --warmup 1 --json 2>&1 | tail -1)
  c1=$(cpu); local r; r=$(rss); stop
  node -e 'const [l,c0,c1,r,ld,o]=process.argv.slice(1);const j=JSON.parse(o);const cpu=(c1-c0)/100
    console.log(JSON.stringify({label:l,cpuS:cpu,deliveries:j.delivered,usPerDelivery:+(cpu*1e6/j.delivered).toFixed(2),
    rssMB:Math.round(r/1024),p50Ms:j.p50Ms,p99Ms:j.p99Ms,lost:j.lost,ok:j.ok,load:+ld}))' \
    "$label" $c0 $c1 $r "$(cut -d' ' -f1 /proc/loadavg)" "$out"
}
pub() {
  local label=$1 bin=$2 store=$3; shift 3; start "$bin" "$store" "$@"
  printf '{"topic":"bench","data":"%s"}' "$(head -c 128 /dev/zero | tr '\0' x)" > "$DIR/body.json"
  BENCH_BODY=$DIR/body.json wrk -t1 -c32 -d2s -s "$HERE/publish.lua" http://127.0.0.1:$PORT/publish >/dev/null 2>&1
  local out r c0 c1; c0=$(cpu)
  out=$(BENCH_BODY=$DIR/body.json taskset -c 1 wrk -t1 -c32 -d${PDUR:-6}s -s "$HERE/publish.lua" \
    http://127.0.0.1:$PORT/publish 2>&1 | tail -1)
  c1=$(cpu); r=$(rss); stop
  node -e 'const [l,o,r,ld,c0,c1]=process.argv.slice(1);const j=JSON.parse(o)
    console.log(JSON.stringify({label:l,publishPerS:Math.round(j.requests/(j.durationUs/1e6)),
    cpuUsPerPublish:+(((c1-c0)/100)*1e6/j.requests).toFixed(1),p50Ms:j.p50Ms,
    p99Ms:j.p99Ms,non2xx:j.non2xx,errs:j.socketErrors,rssMB:Math.round(r/1024),load:+ld}))' \
    "$label" "$out" $r "$(cut -d' ' -f1 /proc/loadavg)" $c0 $c1
}
for r in $(seq 1 ${ROUNDS:-3}); do
  echo "# round $r $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  PARTS=${PARTS:-fan pub workers}
  if [[ " $PARTS " == *" fan "* ]]; then fan fan-old "$OLD"; fan fan-new "$NEW"; fi
  if [[ " $PARTS " == *" pub "* ]]; then
    pub pub-old-memory "$OLD" memory; pub pub-new-memory "$NEW" memory
    pub pub-old-sqlite "$OLD" sqlite; pub pub-new-sqlite "$NEW" sqlite
  fi
  if [[ " $PARTS " == *" workers "* ]]; then
    STORE=sqlite fan fan-sqlite-w1 "$NEW" --workers 1; STORE=sqlite fan fan-sqlite-w2 "$NEW" --workers 2
    pub pub-sqlite-w1 "$NEW" sqlite --workers 1; pub pub-sqlite-w2 "$NEW" sqlite --workers 2
  fi
done
