"""The demo (make demo) starts, answers the curls it prints, and stops."""

import subprocess

import pytest
from envoy_cors_testing.envoy_runner import ROOT

pytestmark = pytest.mark.packaging


def test_demo_check_runs_the_printed_curls_successfully(shell, artifact):
    proc = subprocess.run(
        [str(ROOT / "scripts/demo.sh"), "--check", "--shell", shell], cwd=ROOT,
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "demo check: ok" in proc.stdout
