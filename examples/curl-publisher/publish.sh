#!/bin/sh
# A backend in any language publishes with one HTTP POST: here, a shell script and curl.
#   HERALD_URL=http://127.0.0.1:8080 [HERALD_TOKEN=...] sh examples/curl-publisher/publish.sh [COUNT]
# Publishes COUNT (default 5) events to topic `builds/demo`, one a second, and prints the id
# the hub assigned to each. Watch them with: curl -N "$HERALD_URL/events?topic=builds/*"
set -eu
url="${HERALD_URL:-http://127.0.0.1:8080}"
count="${1:-5}"
auth=""
if [ -n "${HERALD_TOKEN:-}" ]; then auth="Authorization: Bearer $HERALD_TOKEN"; fi
i=1
while [ "$i" -le "$count" ]; do
  body=$(printf '{"topic":"builds/demo","event":"step","data":{"step":%d,"of":%d,"status":"ok"}}' "$i" "$count")
  # --fail-with-body: a refused publish (401, 413, ...) fails, with the hub's JSON error.
  if ! answer=$(curl --silent --show-error --fail-with-body -X POST "$url/publish" \
    -H 'Content-Type: application/json' ${auth:+-H "$auth"} --data "$body"); then
    echo "publish refused: $answer" >&2
    exit 1
  fi
  echo "published step $i: $answer"
  i=$((i + 1))
  if [ "$i" -le "$count" ]; then sleep "${PUBLISH_INTERVAL:-1}"; fi
done
