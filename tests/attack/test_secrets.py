"""Outside attack: secrets in mirror URLs must not be printed."""

from __future__ import annotations

from attack.helpers import base_env, cli


def test_which_does_not_print_mirror_credentials(tmp_path):
    """A downloader config rewriting to a mirror with credentials in its URL: `resolve`'s errors
    strip them, but `hubvendor which` printed `via: http://alice:PASSW0RD@127.0.0.1:...`."""
    cfg = tmp_path / "dl.cfg"
    cfg.write_text("rewrite tfhub.dev/(.*) http://alice:PASSW0RD@127.0.0.1:9/$1?token=TOKEN123\n")
    env = base_env(tmp_path, HUBVENDOR_DOWNLOADER_CONFIG=str(cfg))
    proc = cli("which", "https://tfhub.dev/test/m/1", env=env)
    text = proc.stdout + proc.stderr
    assert "PASSW0RD" not in text, text
    assert "TOKEN123" not in text, text

