"""mirrors: Bazel downloader-config syntax and semantics (UrlRewriterConfig / UrlRewriter)."""

from __future__ import annotations

import os

import pytest

from hubvendor import mirrors
from hubvendor.errors import ConfigError, FetchError
from hubvendor.mirrors import DownloaderConfig

HANDLE_URL = "https://tfhub.dev/google/nnlm-en-dim50/2?tf-hub-format=compressed"


def config(text: str) -> DownloaderConfig:
    return DownloaderConfig.parse(text, "mirrors.cfg")


def test_rewrite_to_a_plain_http_mirror():
    rules = config("rewrite tfhub.dev/(.*) http://127.0.0.1:8080/$1")
    assert rules.apply(HANDLE_URL) == ["http://127.0.0.1:8080/google/nnlm-en-dim50/2?tf-hub-format=compressed"]


def test_replacement_without_scheme_keeps_the_urls_scheme():
    rules = config("rewrite tfhub.dev/(.*) mirror.example.com/hub/$1")
    assert rules.apply(HANDLE_URL) == ["https://mirror.example.com/hub/google/nnlm-en-dim50/2?tf-hub-format=compressed"]
    assert rules.apply("http://tfhub.dev/a/b/1") == ["http://mirror.example.com/hub/a/b/1"]


def test_every_matching_rule_contributes_in_file_order_without_duplicates():
    rules = config(
        "rewrite tfhub.dev/(.*) a.example/$1\n"
        "rewrite nothing.example/(.*) b.example/$1\n"
        "rewrite (tfhub.dev)/(.*) c.example/$1/$2\n"
        "rewrite tfhub.dev/(.*) a.example/$1\n"
        "rewrite (.*) $1\n"
    )
    assert rules.apply("https://tfhub.dev/x/y/1") == [
        "https://a.example/x/y/1", "https://c.example/tfhub.dev/x/y/1", "https://tfhub.dev/x/y/1",
    ]


def test_regex_must_match_the_whole_url_without_scheme():
    rules = config("rewrite tfhub.dev/google mirror.example/google")
    assert rules.apply("https://tfhub.dev/google/x/1") == ["https://tfhub.dev/google/x/1"]
    assert config("rewrite https://tfhub.dev/(.*) m/$1").apply("https://tfhub.dev/a") == ["https://tfhub.dev/a"]


def test_no_matching_rule_keeps_the_url():
    assert config("rewrite other.example/(.*) m.example/$1").apply(HANDLE_URL) == [HANDLE_URL]
    assert config("").apply(HANDLE_URL) == [HANDLE_URL]


def test_java_replacement_syntax():
    rules = config(r"rewrite (?P<host>[^/]+)/(.*)/(\d+) m.example/${host}/$2/v$3/\$1/$20")
    # $20 with two... three groups is $2 followed by a literal 0 (Java reads digits while the group exists)
    assert rules.apply("https://tfhub.dev/a/b/7") == ["https://m.example/tfhub.dev/a/b/v7/$1/a/b0"]


def test_non_http_urls_are_neither_rewritten_nor_blocked():
    rules = config("rewrite (.*) m.example/$1\nblock *")
    assert rules.apply("gs://bucket/model.tar.gz") == ["gs://bucket/model.tar.gz"]


def test_block_matches_the_host_and_its_subdomains_only():
    rules = config("rewrite tfhub.dev/(.*) mirror.example/$1\nrewrite (.*) $1\nblock tfhub.dev")
    assert rules.apply("https://tfhub.dev/a/b/1") == ["https://mirror.example/a/b/1"]
    assert config("block tfhub.dev").apply("https://nottfhub.dev/x") == ["https://nottfhub.dev/x"]
    for blocked in ("https://tfhub.dev/x", "https://storage.tfhub.dev/x"):
        with pytest.raises(FetchError):
            config("block tfhub.dev").apply(blocked)


def test_allow_wins_over_block_star():
    rules = config(
        "rewrite tfhub.dev/(.*) internal.corp/$1\nrewrite tfhub.dev/(.*) tfhub.dev/$1\nallow corp\nblock *"
    )
    assert rules.apply("https://tfhub.dev/a/b/1") == ["https://internal.corp/a/b/1"]


def test_host_matching_ignores_case_and_ports():
    rules = config("rewrite (.*) $1\nallow mirror.example\nblock *")
    assert rules.apply("http://MIRROR.example:8080/a") == ["http://MIRROR.example:8080/a"]


def test_all_blocked_names_url_file_and_message():
    rules = config("# air-gapped\nblock *\nall_blocked_message No internet here: see https://wiki/mirrors\n")
    with pytest.raises(FetchError) as error:
        rules.apply(HANDLE_URL)
    message = str(error.value)
    assert HANDLE_URL in message and "mirrors.cfg" in message
    assert "No internet here: see https://wiki/mirrors" in message
    assert "\n" not in message


def test_comments_and_blank_lines():
    rules = config("\n   \n# comment\n   #indented comment\n#rewrite x y\nblock a.example\n")
    assert rules.block == frozenset({"a.example"}) and rules.rewrites == ()


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("frobnicate x", 1, "unknown directive 'frobnicate'"),
        ("\n\nrewrite tfhub.dev/(.* m/$1", 3, "invalid regex"),
        ("rewrite onlyone", 1, "exactly a regex and a replacement"),
        ("rewrite a b c", 1, "exactly a regex and a replacement"),
        ("allow", 1, "exactly one host name"),
        ("block a b", 1, "exactly one host name"),
        ("all_blocked_message", 1, "must be followed by a message"),
        ("all_blocked_message a\nall_blocked_message b", 2, "at most one"),
        ("rewrite a/(.*) b/$2", 1, "refers to group $2"),
        ("rewrite a/(.*) b/${name}", 1, "unknown group"),
        ("rewrite a/(.*) b/$", 1, "`$` not followed by a group reference"),
        ("rewrite a b/c\\", 1, "lone backslash"),
        ("rewrite a b # trailing comment", 1, "exactly a regex and a replacement"),
    ],
)
def test_malformed_lines_name_file_line_and_problem(text, line, problem):
    with pytest.raises(ConfigError) as error:
        config(text)
    assert f"mirrors.cfg, line {line}" in str(error.value)
    assert problem in str(error.value)


def test_load_reads_a_file_and_names_missing_ones(tmp_path):
    path = tmp_path / "d.cfg"
    path.write_text("rewrite tfhub.dev/(.*) m.example/$1\n")
    assert DownloaderConfig.load(path).apply("https://tfhub.dev/a/b/1") == ["https://m.example/a/b/1"]
    with pytest.raises(ConfigError, match="missing.cfg"):
        DownloaderConfig.load(tmp_path / "missing.cfg")


def test_current_follows_the_environment_and_reloads_on_change(tmp_path, monkeypatch):
    monkeypatch.delenv("HUBVENDOR_DOWNLOADER_CONFIG", raising=False)
    assert mirrors.current() is None
    assert mirrors.candidates(HANDLE_URL) == [HANDLE_URL]

    path = tmp_path / "d.cfg"
    path.write_text("rewrite tfhub.dev/(.*) one.example/$1\n")
    monkeypatch.setenv("HUBVENDOR_DOWNLOADER_CONFIG", str(path))
    first = mirrors.current()
    assert mirrors.current() is first  # cached while the file is unchanged
    assert mirrors.candidates("https://tfhub.dev/a") == ["https://one.example/a"]

    path.write_text("rewrite tfhub.dev/(.*) second.example/$1\n")
    os.utime(path, ns=(0, 10**9))
    assert mirrors.candidates("https://tfhub.dev/a") == ["https://second.example/a"]


def test_current_names_a_missing_config(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBVENDOR_DOWNLOADER_CONFIG", str(tmp_path / "nope.cfg"))
    with pytest.raises(ConfigError, match="HUBVENDOR_DOWNLOADER_CONFIG=.*nope.cfg"):
        mirrors.current()
