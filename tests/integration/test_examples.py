"""The examples work as documented."""
import os
import subprocess
import unittest

from harness import MODEMU, ROOT


class Examples(unittest.TestCase):
    def test_at_health_check(self):
        for profile in ("quectel-eg12", "sierra-mc7455"):
            r = subprocess.run([os.path.join(ROOT, "examples", "at-health-check.sh"), profile],
                               capture_output=True, text=True, timeout=120, env=dict(os.environ, MODEMU=MODEMU))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn(f"health check passed: {profile}", r.stdout)


if __name__ == "__main__":
    unittest.main()
