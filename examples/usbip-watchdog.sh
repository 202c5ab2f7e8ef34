#!/bin/sh
# Router side of the USB/IP transport: keeps an emulated modem attached. It attaches the bus id,
# and attaches it again whenever the connection closes, which is how a reset, a power cut or a
# boot-mode change of the emulated module (EDL, download mode) shows over USB/IP: the server
# cannot re-plug a device, so the host sees a USB disconnect and must attach anew.
#
#   usbip-watchdog.sh SERVER [BUSID]          e.g. usbip-watchdog.sh 192.168.1.10 1-1
#
# Environment: USBIP_PORT (default 3240), USBIP_WATCHDOG_INTERVAL seconds between checks
# (default 1), USBIP_WATCHDOG_ONCE=1 to attach once and exit (0 when attached).
# Needs: the usbip client and the vhci-hcd module (OpenWrt: opkg install usbip-client
# kmod-usbip-client). Plain POSIX sh and busybox applets only, as on OpenWrt.
# Stop it with SIGTERM or SIGINT: it detaches the port it attached.
server=${1:?usage: usbip-watchdog.sh SERVER [BUSID]}
busid=${2:-1-1}
port=${USBIP_PORT:-3240}
interval=${USBIP_WATCHDOG_INTERVAL:-1}

log() {
  echo "usbip-watchdog: $*"
  command -v logger >/dev/null 2>&1 && logger -t usbip-watchdog "$*"
  return 0
}

# The vhci port that holds our bus id, from sysfs and the record `usbip attach` leaves in
# /var/run/vhci_hcd/portN ("HOST PORT BUSID"); nothing when it is not attached. sysfs is read
# directly: `usbip port` is slow on small routers.
attached_port() {
  for status in /sys/devices/platform/vhci_hcd.*/status*; do
    [ -r "$status" ] || continue
    # hub port sta spd dev sockfd local_busid; sta 006 = in use
    while read -r _ p sta _; do
      [ "$sta" = 006 ] || continue
      # "0012" is decimal here; shell arithmetic would read a leading 0 as octal
      # shellcheck disable=SC2003
      n=$(expr "$p" + 0)
      record=/var/run/vhci_hcd/port$n
      [ -r "$record" ] && [ "$(cat "$record")" = "$server $port $busid" ] && { echo "$n"; return 0; }
    done < "$status"
  done
  return 1
}

attach() {
  if out=$(usbip --tcp-port "$port" attach -r "$server" -b "$busid" 2>&1); then
    log "attached $busid from $server:$port"
    return 0
  fi
  # Refused while the module is off the bus (booting, resetting): the next round tries again.
  [ -n "$out" ] && [ "$out" != "$last_error" ] && log "attach $busid from $server:$port: $(echo "$out" | tail -n 1)"
  last_error=$out
  return 1
}

stop() {
  n=$(attached_port) && usbip detach -p "$n" >/dev/null 2>&1 && log "detached $busid (port $n)"
  exit 0
}

if ! [ -d /sys/devices/platform/vhci_hcd.0 ]; then
  modprobe vhci-hcd 2>/dev/null || { log "no vhci_hcd: load the vhci-hcd module"; exit 1; }
fi
last_error=
if [ "${USBIP_WATCHDOG_ONCE:-0}" = 1 ]; then
  attached_port >/dev/null || attach
  exit $?
fi
trap stop TERM INT
was_attached=
while :; do
  if attached_port >/dev/null; then
    was_attached=1
  else
    [ -n "$was_attached" ] && log "$busid from $server: connection closed (module reset or changed mode)"
    was_attached=
    attach && was_attached=1
  fi
  sleep "$interval" &
  wait $!
done
