#!/bin/sh
# `modemu ctl` from a shell: create a modem on a running `modemu serve`, inject a USB reset loop,
# follow two re-enumerations in the event log, clear the fault and remove the modem.
#
#   modemu serve --time-scale 0.05 &
#   examples/ctl-reset-loop.sh [ID]
#
# MODEMU: the modemu binary (default: modemu on PATH); GRPC: the server's address when it is not
# the default unix socket (unix:PATH or HOST:PORT).
set -eu
MODEMU=${MODEMU:-modemu}
id=${1:-sh-eg12}
ctl() { "$MODEMU" ctl ${GRPC:+--grpc "$GRPC"} "$@"; }

ctl modems create --profile quectel-eg12 --id "$id"
ctl faults inject --modem "$id" --type usb_reset_loop --param period=2s --param downtime=0.5s
# The modem's USB events from its creation on (--replay): the first enumeration, then two
# disconnects, each followed by the module coming back.
timeout 60 "$MODEMU" ctl ${GRPC:+--grpc "$GRPC"} watch --replay --modem "$id" --kind usb.plug --kind usb.unplug --count 5
ctl faults clear --modem "$id"
ctl modems list --json
ctl modems delete "$id"
echo "reset loop followed: $id came back twice"
