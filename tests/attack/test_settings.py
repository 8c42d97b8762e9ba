"""Outside attack: settings that doctor does not know about."""

from __future__ import annotations

import pytest

from attack.helpers import base_env, cli


@pytest.mark.parametrize("var,value", [("HUBVENDOR_MIN_SPEED", "abc"), ("HUBVENDOR_MIN_SPEED_TIME", "-1")])
def test_doctor_reports_invalid_min_speed_settings(tmp_path, var, value):
    """`resolve` refuses HUBVENDOR_MIN_SPEED=abc and HUBVENDOR_MIN_SPEED_TIME=-1 (the download deadline
    added for slow drips), but `hubvendor doctor` says `healthy` and exits 0 with them set, and lists
    neither (docs/operations.md: doctor checks every hubvendor setting, an invalid value is a
    problem). Neither variable is in the README's or DESIGN's settings tables either."""
    proc = cli("doctor", env=base_env(tmp_path, **{var: value}))
    assert proc.returncode == 1, proc.stdout[-1500:]
    assert var in proc.stdout + proc.stderr, proc.stdout[-1500:]
