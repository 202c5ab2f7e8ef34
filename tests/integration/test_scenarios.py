"""Scenario files through the real command line: `modemu scenario validate`, and
`modemu run --scenario FILE --check --virtual-time` (the scripted host, no kernel)."""
import glob
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import MODEMU, ROOT

SCENARIOS = sorted(glob.glob(os.path.join(ROOT, "scenarios", "f*.txtpb")))


def modemu(*args, timeout=120):
    return subprocess.run([MODEMU, *args], capture_output=True, text=True, timeout=timeout)


class Validate(unittest.TestCase):
    def test_every_field_failure_file_validates(self):
        self.assertGreaterEqual(len(SCENARIOS), 10)
        r = modemu("scenario", "validate", *SCENARIOS)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count(": ok ("), len(SCENARIOS))

    def test_a_bad_file_is_named_with_its_line_and_nothing_runs(self):
        with tempfile.TemporaryDirectory() as d:
            bad = os.path.join(d, "bad.txtpb")
            with open(bad, "w") as f:
                f.write('duration: "1h"\nmodems { profile: "quectel-eg12" }\n'
                        'faults { type: "usb_reset_loop" params { key: "period" value: "-4h" } }\n')
            r = modemu("scenario", "validate", bad)
            self.assertEqual(r.returncode, 2)
            self.assertIn(f"{bad}:3:33: faults[0].params[0]: fault usb_reset_loop parameter period: \"-4h\"", r.stderr)
            r = modemu("run", "--scenario", bad, "--check", "--virtual-time", "--state-dir", d + "/state")
            self.assertEqual(r.returncode, 2)
            self.assertFalse(os.path.exists(d + "/state"), "nothing may run for a refused scenario")


class RunAndCheck(unittest.TestCase):
    def run_scenario(self, path, state, *extra):
        return modemu("run", "--scenario", path, "--check", "--virtual-time", "--transport", "none", "--quiet",
                      "--state-dir", state, *extra)

    def test_every_field_failure_holds_its_expectations(self):
        for path in SCENARIOS + [os.path.join(ROOT, "scenarios", "default.txtpb")]:
            with self.subTest(os.path.basename(path)), tempfile.TemporaryDirectory() as d:
                r = self.run_scenario(path, d)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("every expectation held", r.stderr)
                self.assertNotIn("FAIL", r.stderr)

    def test_same_seed_same_event_log(self):
        path = os.path.join(ROOT, "scenarios", "f01-eg12-usb-reset-loop.txtpb")
        logs = []
        with tempfile.TemporaryDirectory() as d:
            for _ in range(2):
                shutil.rmtree(d + "/state", ignore_errors=True)
                log = d + "/events.jsonl"
                if os.path.exists(log):
                    os.remove(log)
                r = self.run_scenario(path, d + "/state", "--event-log", log)
                self.assertEqual(r.returncode, 0, r.stderr)
                with open(log) as f:
                    events = [json.loads(line) for line in f]
                for e in events:
                    e.get("fields", {}).pop("pid", None)
                    e.pop("pid", None)
                logs.append(events)
        self.assertGreater(len(logs[0]), 50)
        self.assertEqual(logs[0], logs[1])

    def test_every_file_holds_again_in_a_state_directory_earlier_runs_left(self):
        # A scenario declares its starting point: flash and Sierra firmware storage start from the
        # factory release whatever an earlier scenario (here every one, twice over) left behind.
        with tempfile.TemporaryDirectory() as d:
            for path in SCENARIOS + SCENARIOS[:4]:
                with self.subTest(os.path.basename(path)):
                    r = self.run_scenario(path, d + "/state")
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertIn("every expectation held", r.stderr)

    def test_check_fails_when_an_expectation_does_not_hold(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "strict.txtpb")
            with open(path, "w") as f:
                f.write('name: "strict" duration: "2h"\nmodems { profile: "quectel-eg12" }\n'
                        'expectations { name: "a USB reset within 1 h" within_event { kind: "usb.unplug" } time: "1h" }\n')
            r = self.run_scenario(path, d + "/state")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("FAIL  a USB reset within 1 h: no usb.unplug after the start", r.stderr)

    def test_local_ptys_under_virtual_time(self):
        path = os.path.join(ROOT, "scenarios", "f07-registration-denied-roaming.txtpb")
        with tempfile.TemporaryDirectory() as d:
            r = modemu("run", "--scenario", path, "--check", "--virtual-time", "--json", "--state-dir", d,
                       "--dev-dir", d + "/dev")
            self.assertEqual(r.returncode, 0, r.stderr)
            kinds = [json.loads(line)["kind"] for line in r.stdout.splitlines() if line.startswith("{")]
            self.assertIn("port.up", kinds)
            self.assertIn("scenario", kinds)


if __name__ == "__main__":
    unittest.main()


class DefaultRun(unittest.TestCase):
    def test_modemu_run_alone_plays_a_short_f1_and_again_from_the_same_state(self):
        with tempfile.TemporaryDirectory() as d:
            for attempt in range(2):  # the second run finds A12 in the flash and starts from A09 again
                r = modemu("run", "--virtual-time", "--check", "--json", "--state-dir", d, "--dev-dir", d + "/dev")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("scenario default: F1 in minutes: every expectation held", r.stderr)
                events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
                unplugs = [e for e in events if e["kind"] == "usb.unplug"]
                self.assertGreaterEqual(len(unplugs), 3, f"run {attempt}: the reset loop is visible")
                self.assertTrue(any(e["kind"] == "fault.trait" for e in events))
