#!/usr/bin/env bash
# A CI recipe: start an emulated modem, run the AT health check a router runs at boot (chat
# script: identity, SIM, signal, registration), check the answers, stop the modem.
#
#   examples/at-health-check.sh [PROFILE]        (default quectel-eg12)
#
# MODEMU may name the modemu binary (default: build/release/grpc-api/modemu, then PATH).
set -euo pipefail
profile=${1:-quectel-eg12}
here=$(cd "$(dirname "$0")" && pwd)
modemu=${MODEMU:-$here/../build/release/grpc-api/modemu}
[ -x "$modemu" ] || modemu=$(command -v modemu)

work=$(mktemp -d)
events=$work/events.jsonl
cleanup() {
  [ -n "${pid:-}" ] && kill -INT "$pid" 2>/dev/null && wait "$pid" || true
  rm -rf "$work"
}
trap cleanup EXIT

# --time-scale 0.1: boot and registration ten times faster than the real module.
"$modemu" run --profile "$profile" --state-dir "$work/state" --dev-dir "$work/dev" \
  --time-scale 0.1 --quiet --event-log "$events" &
pid=$!

# Wait (at most 30 s) for the module to register: the event log says when.
for _ in $(seq 300); do
  grep -q '"kind":"radio.registration".*"to":"\(home\|roaming\)"' "$events" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { echo "modemu exited early" >&2; exit 1; }
  sleep 0.1
done
grep -q '"to":"\(home\|roaming\)"' "$events" || { echo "no registration within 30 s" >&2; exit 1; }

port=$work/dev/ttyUSB2
chat -s -v -t 5 '' AT OK ATE0 OK ATI OK 'AT+CPIN?' 'READY' '' OK AT+CSQ OK 'AT+CREG?' '0,1' '' OK \
  < "$port" > "$port" 2> "$work/chat.log" || { cat "$work/chat.log" >&2; echo "health check FAILED" >&2; exit 1; }
grep -E '^\+CSQ:' "$work/chat.log" | head -1
echo "health check passed: $profile answers, SIM ready, registered"
