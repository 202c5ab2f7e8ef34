"""Finer AT checks over the ptys with pyserial: stale output, echo, URCs, errors, per-port
settings, Sierra's privileged commands and what persists across runs."""
import os
import unittest

from harness import Modemu, SerialPort, profile_value


class QuectelPorts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = Modemu()
        cls.m.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def test_stale_boot_output_is_flushed_on_open(self):
        # RDY, +CPIN: READY ... went out at boot with nobody reading: a new client must not see them.
        with SerialPort(self.m.port("ttyUSB3")) as p:
            out = p.command("AT")
        self.assertEqual(out, "AT\r\r\nOK\r\n")

    def test_echo_and_numeric_results(self):
        with SerialPort(self.m.port("ttyUSB2")) as p:
            p.command("ATE1")  # a port keeps its settings until reset, whoever set them
            self.assertEqual(p.command("ATE0"), "ATE0\r\r\nOK\r\n")
            self.assertEqual(p.command("ATV0", final="0\r"), "0\r")
            self.assertEqual(p.command("AT+CGMM", final="0\r"), profile_value("quectel-eg12", r'model:\s*"(\w+)"') + "\r\n0\r")
            self.assertEqual(p.command("ATV1"), "\r\nOK\r\n")

    def test_errors_follow_cmee(self):
        with SerialPort(self.m.port("ttyUSB2")) as p:
            p.command("ATE0")
            self.assertEqual(p.command("AT+CPIN=\"0000\"", final="ERROR\r\n"), "\r\nERROR\r\n")
            p.command("AT+CMEE=2")
            self.assertEqual(p.command("AT+CPIN=\"0000\"", final="\r\n"), "\r\n+CME ERROR: operation not allowed\r\n")
            self.assertEqual(p.command("AT+NOSUCH", final="ERROR\r\n"), "\r\nERROR\r\n")
            self.assertEqual(p.command("AT+CMEE=0"), "\r\nOK\r\n")

    def test_settings_are_per_port(self):
        with SerialPort(self.m.port("ttyUSB2")) as a, SerialPort(self.m.port("ttyUSB3")) as b:
            a.command("ATE0")
            self.assertEqual(b.command("AT"), "AT\r\r\nOK\r\n")  # still echoing
            self.assertEqual(a.command("AT"), "\r\nOK\r\n")

    def test_concatenation(self):
        with SerialPort(self.m.port("ttyUSB2")) as p:
            p.command("ATE0")
            out = p.command("AT+CGMI;+CSQ;+CFUN?")
            self.assertRegex(out, r"^\r\nQuectel\r\n\r\n\+CSQ: \d+,99\r\n\r\n\+CFUN: 1\r\n\r\nOK\r\n$")


class RegistrationUrcs(unittest.TestCase):
    def test_creg_urcs_follow_the_radio(self):
        with Modemu() as m:
            m.wait_ready()
            with SerialPort(m.port("ttyUSB2")) as p:
                p.command("ATE0")
                p.command("AT+CREG=2")
                out = p.command("AT+CFUN=4", final="+CREG: 0\r\n")
                self.assertEqual(out, "\r\nOK\r\n\r\n+CREG: 0\r\n")
                out = p.command("AT+CFUN=1", final='",7\r\n')
                tac = int(profile_value("quectel-eg12", r"tac:\s*(0x[0-9A-Fa-f]+)"), 16)
                self.assertEqual(out, f'\r\nOK\r\n\r\n+CREG: 2\r\n\r\n+CREG: 1,"{tac:04X}","1A2D001",7\r\n')


class SierraPorts(unittest.TestCase):
    def test_privileged_commands_and_reset(self):
        with Modemu(profile="sierra-mc7455") as m:
            m.wait_ready()
            with SerialPort(m.port("ttyUSB2")) as p:
                p.command("ATE0")
                self.assertIn("Mode:        ONLINE", p.command("AT!GSTATUS?"))
                self.assertIn("9071 9070", p.command("AT!USBPID?"))
                self.assertEqual(p.command("AT!BOOTHOLD", final="ERROR\r\n"), "\r\nERROR\r\n")  # locked
                p.command('AT!ENTERCND="A710"')
                self.assertEqual(p.command("AT!BOOTHOLD"), "\r\nOK\r\n")
            m.wait_kind("usb.unplug")
            m.wait_ports_up()


class Persistence(unittest.TestCase):
    def test_usbnet_survives_restart_and_selects_the_composition(self):
        with Modemu() as first:
            first.wait_ready()
            with SerialPort(first.port("ttyUSB2")) as p:
                p.command("ATE0")
                self.assertEqual(p.command('AT+QCFG="usbnet",1'), "\r\nOK\r\n")
            self.assertEqual(first.stop(), 0)
            with Modemu(workdir=first.dir) as second:
                plug = second.wait_kind("usb.plug")
                self.assertEqual(plug["fields"]["composition"], "ecm")
                second.wait_ready()
                with SerialPort(second.port("ttyUSB2")) as p:
                    p.command("ATE0")
                    self.assertEqual(p.command('AT+QCFG="usbnet"'), '\r\n+QCFG: "usbnet",1\r\n\r\nOK\r\n')
                self.assertFalse(os.path.exists(second.port("cdc-wdm0")))


if __name__ == "__main__":
    unittest.main()
