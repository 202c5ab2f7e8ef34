#!/usr/bin/python3
"""The testbed: a real Linux kernel with real USB drivers, under QEMU, in seconds.

It builds (once, cached, rebuilt when its inputs change) a small guest from the machine's own
Debian packages: the kernel as an ELF vmlinux for a fast boot, and an initramfs with busybox,
the USB drivers (option, qcserial, qmi_wwan, cdc_ether), qmicli and qmi-proxy, qdl, qmi-firmware-update, systemd-udevd and
its rules, dbus, polkit and ModemManager. Then it runs a shell script in the guest with emulated
modems attached over usbredir, and returns the script's exit code and output.

    tests/testbed/testbed.py build
    tests/testbed/testbed.py run [--usbredir SOCKET]... [--timeout S] SCRIPT
    tests/testbed/testbed.py shell --usbredir SOCKET          (an interactive guest)

In the guest, /lib/testbed.sh offers: wait_for PATH [SECONDS], start_udev, start_modemmanager.
The packages it needs are installed by scripts/install-deps.sh. Recipe: shared transports.md.
"""
import argparse
import glob
import hashlib
import io
import lzma
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_CACHE = os.environ.get("MODEMU_TESTBED_CACHE", os.path.join(ROOT, "build", "testbed"))

# Driver order that works without udev (transports.md section 5); udev may load more.
MODULES = ["usb-common", "usbcore", "xhci-hcd", "xhci-pci", "usbserial", "usb_wwan", "option", "qcserial",
           "mii", "usbnet", "cdc-wdm", "qmi_wwan", "cdc_ether"]

# The gadget side (tests that run modemu in the guest, --transport gadget): in the image, loaded by
# gadget_setup, not at boot, so other tests keep their bus numbering.
GADGET_MODULES = ["configfs", "libcomposite", "usb_f_fs", "dummy_hcd", "usbip-core", "usbip-vudc", "vhci-hcd"]
GADGET_BINARIES = ["/usr/sbin/usbip", "/usr/sbin/usbipd"]
# In the image, loaded by a test that needs them (`modprobe NAME`), not at boot: USB/IP's client
# side (`use_usbip` in the guest), and the network it needs.
ON_DEMAND_MODULES = ["usbip-core", "vhci-hcd", "virtio_ring", "virtio", "virtio_pci_legacy_dev",
                     "virtio_pci_modern_dev", "virtio_pci", "failover", "net_failover", "virtio_net"]

BINARIES = [
    "/usr/bin/qmicli", "/usr/libexec/qmi-proxy", "/usr/bin/mmcli", "/usr/sbin/ModemManager",
    "/usr/lib/systemd/systemd-udevd", "/usr/bin/udevadm", "/usr/bin/dbus-daemon", "/usr/lib/polkit-1/polkitd",
    "/usr/bin/qdl", "/usr/bin/qmi-firmware-update",
    "/usr/bin/chrt",  # TestbedWatchdog freezes a guest with a real-time busy loop
]
TREES = [
    "/usr/lib/udev/rules.d", "/usr/lib/x86_64-linux-gnu/ModemManager", "/usr/share/dbus-1/system.conf",
    "/usr/share/dbus-1/system.d", "/etc/dbus-1", "/usr/share/polkit-1/actions/org.freedesktop.ModemManager1.policy",
    "/usr/share/polkit-1/rules.d", "/etc/polkit-1", "/etc/udev/udev.conf", "/usr/share/ModemManager",
    "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules", "/usr/lib/x86_64-linux-gnu/gconv/UTF-16.so",
    "/usr/share/misc/usb.ids",
]

INIT = r"""#!/bin/sh
export PATH=/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /run /tmp
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
ln -s /run /var/run
hostname testbed
watchdog_report() {
  echo "@@TESTBED-WATCHDOG@@ the script still runs after $1 s; the guest's processes:"
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' < $p/cmdline); [ -n "$cmd" ] || continue
    state=; while read -r k v; do [ "$k" = State: ] && state=$v && break; done < $p/status
    read -r wchan < $p/wchan
    echo "  ${p#/proc/} $state in $wchan: $cmd"
    cat $p/stack
  done 2>/dev/null
  echo "== the kernel's last messages"
  dmesg | tail -30
  for f in /tmp/*.log; do
    [ -f "$f" ] || continue
    echo "== the end of $f"
    tail -40 "$f"
  done
}
for m in $(cat /etc/testbed-modules); do insmod "$m" 2>/dev/null; done
echo "@@TESTBED-BEGIN@@"
sh /test.sh &
script=$!
# The watchdog: a script still running near the host's time limit is stopped here, with a report
# of what the guest was doing, instead of the host killing the machine with nothing said.
limit=$(sed -n 's/.*testbed.limit=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ -n "$limit" ]; then
  ( sleep "$limit"; watchdog_report "$limit"; kill -KILL $script ) &
  watchdog=$!
fi
wait $script
rc=$?
[ -n "$limit" ] && kill $watchdog 2>/dev/null
echo "@@TESTBED-RC=$rc@@"
sync
poweroff -f
"""

GUEST_LIB = r"""# Helpers for guest scripts.
# wait_for PATH [SECONDS]: until PATH exists (default 20 s); fails after.
wait_for() {
  n=$(( ${2:-20} * 10 ))
  while [ ! -e "$1" ] && [ $n -gt 0 ]; do usleep 100000; n=$((n-1)); done
  [ -e "$1" ]
}
# at DEVICE COMMAND: sends one AT command line and prints the answer (up to OK or ERROR, 3 s).
# The port is opened once (fd 3) for the command and the answer: a reader that opened it late,
# after the answer, would raise DTR again and the modem drops what it said before (as the
# real module does), so a loaded guest lost answers.
at() {
  dev=$1; shift
  out=/tmp/at.$$
  : > $out
  exec 3<>"$dev"
  stty raw -echo <&3 2>/dev/null
  timeout 3 cat <&3 > $out &
  reader=$!
  printf '%s\r' "$*" >&3
  n=30; while ! grep -qE 'OK|ERROR' $out && [ $n -gt 0 ]; do usleep 100000; n=$((n-1)); done
  kill $reader 2>/dev/null; wait $reader 2>/dev/null
  exec 3<&-
  tr -d '\r' < $out
}
# qmi ARGS...: qmicli on /dev/cdc-wdm0, once more if cdc-wdm handed the new client a read of 0
# bytes (libqmi: "connection broken"). That is the guest kernel's race, not the modem's: a client
# that closed while a response it did not wait for was in flight leaves cdc-wdm reporting data
# with none buffered (docs/testing.md, "The cdc-wdm race"). The retry is shown.
qmi() {
  qmi_out=$(qmicli -d /dev/cdc-wdm0 "$@" 2>&1); qmi_rc=$?
  case $qmi_out in *"Cannot read from istream: connection broken"*)
    echo "testbed: cdc-wdm read 0 bytes (the guest kernel's race); qmicli $* again"
    qmi_out=$(qmicli -d /dev/cdc-wdm0 "$@" 2>&1); qmi_rc=$? ;;
  esac
  echo "$qmi_out"
  return $qmi_rc
}
# hotplug N / unplug N: ask the host to attach (detach) hot-plug device N through QEMU's monitor.
hotplug() { echo "@@HOTPLUG $1@@"; }
unplug() { echo "@@UNPLUG $1@@"; }
# use_usbip: vhci_hcd and the user-mode network's guest address, with no
# default route: only 10.0.2.0/24, where 10.0.2.2 is the host's loopback (run(..., net=True)).
use_usbip() {
  modprobe vhci-hcd && modprobe virtio_pci && modprobe virtio_net || return 1
  wait_for /sys/class/net/eth0 10 || return 1
  ip link set lo up
  ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0
}
# gadget_setup vudc|dummy: configfs and a UDC for modemu's gadget transport: usbip-vudc looped
# back through vhci_hcd (usbipd in device mode; keep_vudc_attached re-attaches after every
# rebind), or dummy_hcd (few endpoints: reduced compositions). Recipe: transports.md section 3.
gadget_setup() {
  for m in $(cat /etc/testbed-gadget-modules); do
    case $m in
      *dummy_hcd*) [ "$1" = dummy ] || continue ;;
      *usbip*|*vhci*) [ "$1" = vudc ] || continue ;;
    esac
    insmod "$m" 2>/dev/null
  done
  grep -qs configfs /proc/mounts || mount -t configfs none /sys/kernel/config
  if [ "$1" = vudc ]; then
    ip link set lo up
    usbipd --device -4 -D 2>/dev/null  # it complains until a gadget is bound
  fi
}
keep_vudc_attached() {
  while :; do
    if [ "$(cat /sys/devices/platform/usbip-vudc.0/usbip_status 2>/dev/null)" = 1 ] \
       && grep -qs . /sys/kernel/config/usb_gadget/*/UDC; then
      usbip attach -r 127.0.0.1 -d usbip-vudc.0 >/dev/null 2>&1
    fi
    usleep 100000
  done
}
# modemu_start ARGS...: the emulator shipped into the guest by the test; events in /tmp/modemu.log
modemu_start() {
  MODEMU_PROFILE_PATH=/modemu/profiles /modemu/modemu run --state-dir /tmp/modemu-state "$@" > /tmp/modemu.log 2>&1 &
  echo $! > /tmp/modemu.pid
}
# modemu_stop: SIGTERM, and its exit code
modemu_stop() {
  kill -TERM $(cat /tmp/modemu.pid) 2>/dev/null
  wait $(cat /tmp/modemu.pid)
}
start_udev() {
  mkdir -p /run/udev
  /usr/lib/systemd/systemd-udevd --daemon --resolve-names=early
  udevadm trigger --type=subsystems --action=add
  udevadm trigger --type=devices --action=add
  udevadm settle --timeout=20
}
start_modemmanager() {
  mkdir -p /run/dbus /var/lib/dbus
  dbus-daemon --system --fork
  /usr/lib/polkit-1/polkitd --no-debug >/tmp/polkit.log 2>&1 &
  n=100; while ! dbus-send --system --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner string:org.freedesktop.PolicyKit1 2>/dev/null | grep -q true && [ $n -gt 0 ]; do usleep 100000; n=$((n-1)); done
  ModemManager --debug --log-file=/run/mm.log &
}
"""

PASSWD = "root:x:0:0:root:/root:/bin/sh\nmessagebus:x:100:101::/nonexistent:/bin/false\npolkitd:x:997:997::/nonexistent:/bin/false\nnobody:x:65534:65534::/nonexistent:/bin/false\n"
GROUP = ("root:x:0:\ntty:x:5:\ndialout:x:20:\ntape:x:26:\nmessagebus:x:101:\npolkitd:x:997:\n"
         "plugdev:x:46:\nnetdev:x:108:\nnogroup:x:65534:\n")


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def kernel_version():
    kernels = sorted(glob.glob("/boot/vmlinuz-*"))
    if not kernels:
        sys.exit("testbed: no /boot/vmlinuz-*: install linux-image-amd64 (scripts/install-deps.sh)")
    return kernels[-1][len("/boot/vmlinuz-"):]


def extract_vmlinux(vmlinuz, dest):
    """The bzImage payload is compressed: find the stream and unpack the ELF it holds."""
    data = read_file(vmlinuz)
    for magic, opener in ((b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\x5d\x00\x00", "lzma")):
        start = data.find(magic)
        while start != -1:
            try:
                if opener == "xz":
                    out = lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(data[start:])
                elif opener == "lzma":
                    out = lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(data[start:])
                else:
                    out = subprocess.run(["zstd", "-dc"], input=data[start:], capture_output=True).stdout
                if out.startswith(b"\x7fELF"):
                    with open(dest, "wb") as f:
                        f.write(out)
                    return
            except Exception:
                pass
            start = data.find(magic, start + 1)
    sys.exit(f"testbed: no ELF kernel found inside {vmlinuz}")


class Cpio:
    """A newc cpio archive, written in memory."""

    def __init__(self):
        self.out = io.BytesIO()
        self.ino = 1
        self.seen = set()

    def _entry(self, name, mode, data=b"", nlink=1):
        name = name.lstrip("/")
        if name in self.seen:
            return
        self.seen.add(name)
        namez = name.encode() + b"\0"
        hdr = "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x" % (
            self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(namez), 0)
        self.ino += 1
        self.out.write(hdr.encode() + namez)
        self.out.write(b"\0" * ((4 - (110 + len(namez)) % 4) % 4))
        self.out.write(data)
        self.out.write(b"\0" * ((4 - len(data) % 4) % 4))

    def dir(self, name):
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            self._entry("/".join(parts[:i]), stat.S_IFDIR | 0o755, nlink=2)

    def file(self, name, data, mode=0o644):
        self.dir(os.path.dirname(name))
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target):
        self.dir(os.path.dirname(name))
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    @staticmethod
    def merged(path):
        """/lib/x, /bin/x ... live under /usr in the guest, whose /lib is a link to usr/lib."""
        for top in ("/lib64/", "/lib/", "/bin/", "/sbin/"):
            if path.startswith(top):
                return "/usr" + path
        return path

    def copy(self, path, follow=True):
        """A host file at the same path, with the symlinks on its way."""
        path = self.merged(path)
        if os.path.islink(path):
            target = os.readlink(path)
            self.symlink(path, target)
            if follow:
                self.copy(os.path.normpath(os.path.join(os.path.dirname(path), target)))
            return
        if os.path.isdir(path):
            for entry in sorted(os.listdir(path)):
                self.copy(os.path.join(path, entry))
            return
        if os.path.isfile(path):
            st = os.stat(path)
            self.file(path, read_file(path), stat.S_IMODE(st.st_mode))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return self.out.getvalue()


def libraries(binaries):
    libs = set()
    for b in binaries:
        out = subprocess.run(["ldd", b], capture_output=True, text=True).stdout
        for m in re.finditer(r"(/[^ \t\n]+\.so[^ \t\n]*)", out):
            libs.add(m.group(1))
    return sorted(libs)


def inputs_key(kver):
    h = hashlib.sha256()
    with open(__file__, "rb") as f:
        h.update(f.read())
    h.update(kver.encode())
    for p in BINARIES + GADGET_BINARIES + [f"/boot/vmlinuz-{kver}", "/bin/busybox"]:
        if os.path.exists(p):
            st = os.stat(p)
            h.update(f"{p}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def build(cache=DEFAULT_CACHE, verbose=True):
    """Builds (or finds) the guest; returns (vmlinux, base.cpio)."""
    kver = kernel_version()
    key = inputs_key(kver)
    out = os.path.join(cache, key)
    vmlinux, base = os.path.join(out, "vmlinux"), os.path.join(out, "base.cpio")
    if os.path.exists(vmlinux) and os.path.exists(base):
        return vmlinux, base
    missing = [b for b in BINARIES + GADGET_BINARIES if not os.path.exists(b)]
    if missing:
        sys.exit("testbed: missing " + ", ".join(missing) + ": run scripts/install-deps.sh")
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="testbed-", dir=cache if os.path.isdir(cache) else None)
    os.makedirs(cache, exist_ok=True)
    extract_vmlinux(f"/boot/vmlinuz-{kver}", os.path.join(tmp, "vmlinux"))
    c = Cpio()
    # merged /usr, as on the host
    for d in ("bin", "sbin", "lib", "lib64"):
        c.symlink(d, f"usr/{d}")
    for d in ("dev", "proc", "sys", "run", "tmp", "var", "root", "etc", "usr/bin", "usr/sbin"):
        c.dir(d)
    c.file("usr/bin/busybox", read_file("/bin/busybox"), 0o755)
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True).stdout.split()
    for a in applets:
        if not os.path.exists(f"/usr/bin/{a}") or a in ("sh", "mount", "insmod", "poweroff", "hostname", "usleep",
                                                          "dmesg", "cat", "grep", "ls", "sleep", "ip", "stty"):
            c.symlink(f"usr/bin/{a}", "busybox")
    c.file("init", INIT.encode(), 0o755)
    c.file("usr/lib/testbed.sh", GUEST_LIB.encode())
    # kernel modules and their dependency list, for insmod in order and for udev's modprobe
    moddir = f"/lib/modules/{kver}"
    deps = {}
    with open(f"{moddir}/modules.dep") as f:
        dep_lines = f.readlines()
    for line in dep_lines:
        k, _, v = line.partition(":")
        deps[os.path.basename(k).split(".ko")[0].replace("_", "-")] = (k, v.split())
    order, want = [], [m.replace("_", "-") for m in MODULES]
    for m in want:
        path, _ = deps[m]
        if path not in order:
            order.append(path)
    gadget_order, on_demand = [], []

    def with_deps(path, into):
        for dep in reversed(deps[os.path.basename(path).split(".ko")[0].replace("_", "-")][1]):
            with_deps(dep, into)
        if path not in order and path not in into:
            into.append(path)
    for m in GADGET_MODULES:
        with_deps(deps[m.replace("_", "-")][0], gadget_order)
    for m in ON_DEMAND_MODULES:
        with_deps(deps[m.replace("_", "-")][0], on_demand)
    modroot = os.path.join(tmp, "modroot")
    for path in order + gadget_order + [p for p in on_demand if p not in gadget_order]:
        dest = os.path.join(modroot, "lib", "modules", kver, path)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy(os.path.join(moddir, path), dest)
    for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        if os.path.exists(os.path.join(moddir, f)):
            shutil.copy(os.path.join(moddir, f), os.path.join(modroot, "lib", "modules", kver, f))
    subprocess.run(["depmod", "-b", modroot, kver], check=True)
    for dirpath, _, files in os.walk(os.path.join(modroot, "lib")):
        for f in files:
            full = os.path.join(dirpath, f)
            c.file("usr" + full[len(modroot):], read_file(full))
    c.file("etc/testbed-modules", "\n".join(f"/lib/modules/{kver}/{p}" for p in order).encode() + b"\n")
    c.file("etc/testbed-gadget-modules", "\n".join(f"/lib/modules/{kver}/{p}" for p in gadget_order).encode() + b"\n")
    # programs, their libraries, their data
    for b in BINARIES + GADGET_BINARIES:
        c.copy(b)
    c.file("usr/share/hwdata/usb.ids", read_file("/usr/share/misc/usb.ids"))
    for lib in libraries(BINARIES + GADGET_BINARIES + glob.glob("/usr/lib/x86_64-linux-gnu/ModemManager/*.so")):
        c.copy(lib)
    for t in TREES:
        if os.path.exists(t):
            c.copy(t)
    if os.path.exists("/usr/bin/dbus-send"):
        c.copy("/usr/bin/dbus-send")
        for lib in libraries(["/usr/bin/dbus-send"]):
            c.copy(lib)
    # users and groups for dbus and polkit; no helpers for rules whose programs are absent
    c.file("etc/passwd", PASSWD.encode())
    c.file("etc/group", GROUP.encode())
    c.file("etc/machine-id", b"0123456789abcdef0123456789abcdef\n")
    for rule in ("99-systemd.rules", "85-hwclock.rules"):
        c.symlink(f"etc/udev/rules.d/{rule}", "/dev/null")
    with open(os.path.join(tmp, "base.cpio"), "wb") as f:
        f.write(c.finish())
    shutil.rmtree(modroot)
    if os.path.exists(vmlinux) and os.path.exists(base):
        shutil.rmtree(tmp)  # a test running beside this one built the same guest first: use it
        return vmlinux, base
    if os.path.exists(out):
        shutil.rmtree(out)
    os.rename(tmp, out)
    if verbose:
        size = os.path.getsize(base) / 1e6
        print(f"testbed: built guest for kernel {kver} in {time.monotonic() - t0:.1f}s ({size:.0f} MB initramfs) in {out}",
              file=sys.stderr)
    return vmlinux, base


def modemu_overlay(modemu, cache=DEFAULT_CACHE):
    """A cpio with `modemu` (stripped) at /modemu/modemu, its libraries and the profiles at
    /modemu/profiles, to append to the guest (guest_lib: modemu_start). Cached per binary."""
    st = os.stat(modemu)
    profiles = sorted(glob.glob(os.path.join(ROOT, "emulator", "profiles", "*.txtpb")))
    h = hashlib.sha256(f"{os.path.abspath(modemu)}:{st.st_size}:{st.st_mtime_ns}".encode())
    for p in profiles:
        h.update(read_file(p))
    path = os.path.join(cache, "modemu-" + h.hexdigest()[:16] + ".cpio")
    if os.path.exists(path):
        return path
    os.makedirs(cache, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="testbed-modemu-", dir=cache) as d:
        stripped = os.path.join(d, "modemu")
        subprocess.run(["strip", "-o", stripped, modemu], check=True)
        c = Cpio()
        c.file("modemu/modemu", read_file(stripped), 0o755)
        for p in profiles:
            c.file("modemu/profiles/" + os.path.basename(p), read_file(p))
        for lib in libraries([modemu]):
            c.copy(lib)
        # Written whole beside it, then renamed: tests running side by side may build it at once.
        tmp = os.path.join(d, "overlay.cpio")
        with open(tmp, "wb") as f:
            f.write(c.finish())
        os.rename(tmp, path)
    return path


class Qmp:
    """A minimal QMP client: enough to hot-plug and unplug usb-redir devices."""

    def __init__(self, path, deadline):
        import json
        import socket
        self.json = json
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.file = self.sock.makefile("rw")
        self.file.readline()  # greeting
        self.call("qmp_capabilities")

    def call(self, command, **arguments):
        self.file.write(self.json.dumps({"execute": command, "arguments": arguments}) + "\n")
        self.file.flush()
        while True:
            reply = self.json.loads(self.file.readline())
            if "return" in reply or "error" in reply:
                if "error" in reply:
                    raise RuntimeError(f"QMP {command}: {reply['error']}")
                return reply["return"]

    def close(self):
        self.sock.close()


# Seconds a frozen guest gets, after the time limit, to print the panic an NMI causes.
NMI_GRACE = 15


def watchdog_limit(timeout):
    """Seconds after which the guest's watchdog stops the script and reports (INIT): enough before
    `timeout` for the report to reach the console."""
    return timeout - max(15, min(40, timeout // 4))


def run(script, sockets=(), timeout=120, cache=DEFAULT_CACHE, interactive=False, hotplug=(), files=None, overlays=(),
        net=False):
    """Runs `script` (shell text) in the guest with a usb-redir device per socket.
    `files` maps guest paths to (bytes, mode) to add for this run; `overlays` are cpio files
    appended as they are (modemu_overlay).
    `net`: a virtio NIC on QEMU's user-mode network, for USB/IP; `use_usbip` in the script configures
    it, and the guest reaches the host's loopback as 10.0.2.2 (and nothing else: no route out).
    `hotplug` sockets are attached through QEMU's monitor when the script calls `hotplug N`
    (N: index in `hotplug`), and detached by `unplug N`, as an operator would on a running VM.
    Returns (exit code, the script's output, the whole console)."""
    vmlinux, base = build(cache, verbose=False)
    with tempfile.TemporaryDirectory(prefix="testbed-run-") as d:
        c = Cpio()
        c.file("test.sh", (". /lib/testbed.sh\n" + script).encode(), 0o755)
        for name, (data, mode) in (files or {}).items():
            c.file(name, data, mode)
        initrd = os.path.join(d, "initrd.cpio")
        with open(initrd, "wb") as f:
            f.write(read_file(base))
            for overlay in overlays:
                f.write(read_file(overlay))
            f.write(c.finish())
        qmp_path = os.path.join(d, "qmp.sock")
        cmd = ["qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-cpu", "max", "-smp", "1", "-m", "384",
               "-kernel", vmlinux, "-initrd", initrd,
               "-append", "console=ttyS0 rdinit=/init panic=-1 quiet net.ifnames=0 unknown_nmi_panic "
               f"testbed.limit={watchdog_limit(timeout)}",
               "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio", "-monitor", "none",
               "-qmp", f"unix:{qmp_path},server=on,wait=off", "-device", "qemu-xhci,id=xhci"]
        if net:
            cmd += ["-netdev", "user,id=n0,ipv6=off", "-device", "virtio-net-pci,netdev=n0"]
        for i, sock in enumerate(sockets):
            cmd += ["-chardev", f"socket,id=m{i},path={sock},reconnect=1",
                    "-device", f"usb-redir,chardev=m{i},bus=xhci.0"]
        if interactive:
            return subprocess.call(cmd), "", ""
        deadline = time.monotonic() + timeout
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        console, qmp, line = [], None, b""
        try:
            os.set_blocking(p.stdout.fileno(), False)
            import select
            nmi_sent = False
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 and not nmi_sent and "@@TESTBED-WATCHDOG@@" not in "".join(console):
                    # The guest's own watchdog said nothing: the guest is frozen (a kernel stuck
                    # with interrupts off, or starved). An NMI makes its kernel panic with the
                    # stack it was in (unknown_nmi_panic), and QEMU exits.
                    nmi_sent = True
                    deadline = time.monotonic() + NMI_GRACE
                    try:
                        qmp = qmp or Qmp(qmp_path, deadline)
                        qmp.call("inject-nmi")
                    except (OSError, RuntimeError, ValueError):
                        pass
                    continue
                if remaining <= 0:
                    p.kill()
                    break
                ready, _, _ = select.select([p.stdout], [], [], min(remaining, 1.0))
                if not ready:
                    continue
                chunk = p.stdout.read()
                if not chunk:
                    break
                console.append(chunk.decode(errors="replace"))
                line += chunk
                while b"\n" in line:
                    text, line = line.split(b"\n", 1)
                    m = re.search(rb"@@(HOTPLUG|UNPLUG) (\d+)@@", text)
                    if m:
                        qmp = qmp or Qmp(qmp_path, deadline)
                        n = int(m.group(2))
                        if m.group(1) == b"HOTPLUG":
                            qmp.call("chardev-add", id=f"hp{n}", backend={"type": "socket", "data": {
                                "addr": {"type": "unix", "data": {"path": hotplug[n]}}, "server": False,
                                "reconnect": 1}})
                            qmp.call("device_add", driver="usb-redir", chardev=f"hp{n}", bus="xhci.0", id=f"hpdev{n}")
                        else:
                            qmp.call("device_del", id=f"hpdev{n}")
            p.wait(timeout=10)
        finally:
            if qmp:
                qmp.close()
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
    console = "".join(console)
    m = re.search(r"@@TESTBED-RC=(\d+)@@", console)
    output = console.partition("@@TESTBED-BEGIN@@")[2].partition("@@TESTBED-RC=")[0]
    return (int(m.group(1)) if m else 124), output.replace("\r\n", "\n"), console


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=DEFAULT_CACHE, help="where built guests are kept (default %(default)s)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="build the guest (if its inputs changed)")
    r = sub.add_parser("run", help="run a script in the guest")
    r.add_argument("--usbredir", action="append", default=[], help="a modemu usbredir unix socket to attach")
    r.add_argument("--timeout", type=int, default=120)
    r.add_argument("--net", action="store_true", help="a NIC on QEMU's user-mode network (for USB/IP; 10.0.2.2 is the host)")
    r.add_argument("script", help="shell script file to run in the guest")
    s = sub.add_parser("shell", help="an interactive guest (busybox sh on the console)")
    s.add_argument("--usbredir", action="append", default=[])
    a = ap.parse_args()
    if a.cmd == "build":
        print("\n".join(build(a.cache)))
        return 0
    if a.cmd == "shell":
        return run("exec sh\n", a.usbredir, cache=a.cache, interactive=True)[0]
    rc, out, _ = run(open(a.script).read(), a.usbredir, a.timeout, a.cache, net=a.net)
    sys.stdout.write(out)
    return rc


if __name__ == "__main__":
    sys.exit(main())
