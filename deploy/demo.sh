#!/usr/bin/env bash
# Limes demo: two border agencies on loopback exchange an alert and a
# pre-arrival declaration, live through an outage of one side, and nothing
# is lost or delivered twice. Builds Limes first if needed.
#   deploy/demo.sh            (keeps nothing: works in a temporary folder)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
limes="$here/build/limes"
if [ ! -x "$limes" ]; then
  echo "== Building Limes first (deploy/setup.sh) ..."
  "$here/deploy/setup.sh" "$here/build"
fi

work=$(mktemp -d /tmp/limes-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say()  { printf '\n\033[1m%s\033[0m\n' "$*"; }
info() { printf '   %s\n' "$*"; }

# free loopback ports for this run
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RS_LINK=$(port); HU_LINK=$(port); RS_API=$(port); HU_API=$(port)

say "1. Two agencies make their identities"
for a in rs hu; do
  mkdir -p "$work/$a"; chmod 700 "$work/$a"
  "$limes" keygen --dir "$work/$a/keys" > "$work/$a/identity.line" 2>/dev/null
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/$a/api.token"
  chmod 600 "$work/$a/api.token"
done
info "RS-CUSTOMS-HORGOS (Serbian customs, Horgoš): $(cut -c1-40 "$work/rs/identity.line")..."
info "HU-NAV-ROSZKE     (Hungarian customs, Röszke): $(cut -c1-40 "$work/hu/identity.line")..."
info "Each pastes the other's public identity line into its config; nothing secret is exchanged."

cat > "$work/rs/limes.ini" <<EOF
[agent]
id     = RS-CUSTOMS-HORGOS
keys   = keys
listen = tcp://127.0.0.1:$RS_LINK
data   = data
[api]
listen     = 127.0.0.1:$RS_API
token_file = api.token
[link]
heartbeat  = 1s
dead_after = 3s
retry      = 1s
[peer "HU-NAV-ROSZKE"]
endpoint = tcp://127.0.0.1:$HU_LINK
key      = $(cat "$work/hu/identity.line")
send     = alert, pre_arrival
accept   = alert, control_result
EOF
cat > "$work/hu/limes.ini" <<EOF
[agent]
id     = HU-NAV-ROSZKE
keys   = keys
listen = tcp://127.0.0.1:$HU_LINK
data   = data
[api]
listen     = 127.0.0.1:$HU_API
token_file = api.token
[link]
heartbeat  = 1s
dead_after = 3s
retry      = 1s
[peer "RS-CUSTOMS-HORGOS"]
endpoint = tcp://127.0.0.1:$RS_LINK
key      = $(cat "$work/rs/identity.line")
send     = alert, control_result
accept   = alert, pre_arrival
EOF

start() { # agency-folder
  "$limes" agent -c "$work/$1/limes.ini" 2>>"$work/$1/agent.log" &
  pids+=($!)
  echo $! > "$work/$1/pid"
  local api; api=$(grep -m1 '^listen *= *127' "$work/$1/limes.ini" | sed 's/.*= *//')
  for _ in $(seq 100); do
    curl -sf "http://$api/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "agent $1 did not start; its log:"; cat "$work/$1/agent.log"; exit 1
}
stop() { kill -TERM "$(cat "$work/$1/pid")"; wait "$(cat "$work/$1/pid")" 2>/dev/null || true; }
wait_link() { # agency-folder peer
  for _ in $(seq 100); do
    "$limes" status -c "$work/$1/limes.ini" --json 2>/dev/null | grep -q '"state": *"up"' && return 0
    sleep 0.1
  done
}
wait_delivered() { # count
  for _ in $(seq 200); do
    local n; n=$(for id in "${ids[@]}"; do "$limes" msg -c "$work/rs/limes.ini" "$id"; done | grep -c '"delivered"' || true)
    [ "$n" -ge "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

say "2. Both agents start and link up over CURVE-encrypted ZeroMQ"
start rs; start hu
wait_link rs HU-NAV-ROSZKE
"$limes" status -c "$work/rs/limes.ini" || [ $? -eq 2 ]   # 2: some link is not up

say "3. Horgoš sends a stolen-vehicle alert (urgent) and a pre-arrival declaration for a truck"
ids=()
ids+=("$("$limes" send -c "$work/rs/limes.ini" --to HU-NAV-ROSZKE --type alert --priority urgent "$here/docs/examples/alert.json")")
ids+=("$("$limes" send -c "$work/rs/limes.ini" --to HU-NAV-ROSZKE --type pre_arrival "$here/docs/examples/pre_arrival.json")")
info "alert       ${ids[0]}"
info "pre-arrival ${ids[1]}"
wait_delivered 2
info "Both are delivered: Röszke signed a receipt for each after committing them to disk."
"$limes" msg -c "$work/rs/limes.ini" "${ids[0]}"

say "4. Outage: the Röszke agent stops"
stop hu
info "HU-NAV-ROSZKE is down. Horgoš keeps accepting messages and queues them on disk."
for i in 1 2 3; do
  ids+=("$("$limes" send -c "$work/rs/limes.ini" --to HU-NAV-ROSZKE --type pre_arrival "$here/docs/examples/pre_arrival.json")")
done
ids+=("$("$limes" send -c "$work/rs/limes.ini" --to HU-NAV-ROSZKE --type alert --priority urgent "$here/docs/examples/alert.json")")
sleep 4
"$limes" status -c "$work/rs/limes.ini" || [ $? -eq 2 ]   # 2: some link is not up
info "4 more messages wait in Horgoš's outbox (the urgent alert will go first)."

say "5. Röszke comes back: the backlog drains by itself"
start hu
wait_delivered ${#ids[@]} || { echo "not all delivered"; exit 1; }
"$limes" status -c "$work/rs/limes.ini" || [ $? -eq 2 ]   # 2: some link is not up
for id in "${ids[@]}"; do
  state=$("$limes" msg -c "$work/rs/limes.ini" "$id" | tr -d '\n' | grep -o '"state": *"[a-z]*"' | head -1)
  info "$id  $state"
done

say "6. Röszke's inbox: every message exactly once"
"$limes" inbox -c "$work/hu/limes.ini" > "$work/inbox.jsonl"
got=$(wc -l < "$work/inbox.jsonl")
uniq=$(grep -o '"id": *"[0-9a-f]*"' "$work/inbox.jsonl" | sort -u | wc -l)
info "received $got messages, $uniq distinct ids, ${#ids[@]} sent"
[ "$got" -eq "${#ids[@]}" ] && [ "$uniq" -eq "$got" ] || { echo "MISMATCH"; exit 1; }
info "arrival order at Röszke (cursor, type, priority):"
python3 - "$work/inbox.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    print("     %3d  %-12s %-7s %s" % (m["cursor"], m["type"], m["priority"], m["id"]))
PY
info "the urgent alert queued last during the outage arrived before the three declarations."
info "one message as the national system receives it:"
head -c 400 "$work/inbox.jsonl"; echo " ..."

say "7. Röszke answers the declaration with a control result"
cat > "$work/control.json" <<EOF
{"answers_message_id": "${ids[1]}", "lrn": "RS2026HG000123", "outcome": "released",
 "findings": ["seals intact", "documents in order"], "controlling_office": "HU000701",
 "controlled_at": "2026-11-26T09:12:00Z"}
EOF
cr=$("$limes" send -c "$work/hu/limes.ini" --to RS-CUSTOMS-HORGOS --type control_result --ref "${ids[1]}" "$work/control.json")
for _ in $(seq 100); do
  "$limes" inbox -c "$work/rs/limes.ini" | grep -q "$cr" && break
  sleep 0.1
done
"$limes" inbox -c "$work/rs/limes.ini" | grep "$cr" | head -c 400; echo " ..."

say "8. Both agents stop cleanly"
stop rs; stop hu
info "Demo complete: $(( ${#ids[@]} + 1 )) messages, one outage, nothing lost, nothing twice."
