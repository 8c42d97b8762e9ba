"""``hubvendor serve`` (the product) and its test controls (support/fault_server.py), against real subprocesses."""

from __future__ import annotations

import email.utils
import http.client
import io
import shutil
import socket
import tarfile
from pathlib import Path

import pytest
import requests

from support.models import HALF_PLUS_TWO, tar_gz_bytes
from support.commands import hubvendor
from support.server import HubServer

COMPRESSED = f"/{HALF_PLUS_TWO}?tf-hub-format=compressed"


def get(server: HubServer, path: str, **kwargs) -> requests.Response:
    return requests.get(server.url + path, timeout=30, **kwargs)


def raw_request(server: HubServer, method: str, path: str) -> http.client.HTTPResponse:
    """A request with the path sent exactly as given (no client-side normalisation)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request(method, path)
    return connection.getresponse()


def tree_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_compressed_stream_is_a_deterministic_tfhub_style_tar_gz(hub_server, model_root):
    first = get(hub_server, COMPRESSED)
    assert first.status_code == 200
    assert int(first.headers["Content-Length"]) == len(first.content)
    with tarfile.open(fileobj=io.BytesIO(first.content), mode="r:gz") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names[0] == "." and all(n.startswith("./") for n in names[1:])
        assert all(m.mtime == 0 for m in members)
        assert "./saved_model.pb" in names and "./variables/variables.index" in names
        served = {m.name[2:]: tar.extractfile(m).read() for m in members if m.isfile()}
    assert served == tree_files(model_root / HALF_PLUS_TWO)

    second = get(hub_server, f"/{HALF_PLUS_TWO}.tar.gz")
    assert second.content == first.content
    assert second.headers["ETag"] == first.headers["ETag"]
    assert hub_server.stats()["archive_downloads"] == {HALF_PLUS_TWO: 2}


def test_stored_archive_is_served_as_is(tmp_path, model_root):
    stored = tar_gz_bytes(model_root / HALF_PLUS_TWO)
    (tmp_path / "pub" / "model").mkdir(parents=True)
    (tmp_path / "pub" / "model" / "3.tar.gz").write_bytes(stored)
    with HubServer(tmp_path) as server:
        response = get(server, "/pub/model/3?tf-hub-format=compressed")
        assert response.status_code == 200 and response.content == stored
        assert server.stats()["archive_downloads"] == {"pub/model/3": 1}


def test_head_range_and_etag(hub_server):
    whole = get(hub_server, COMPRESSED).content
    head = requests.head(hub_server.url + COMPRESSED, timeout=30)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == len(whole)
    assert head.headers["Accept-Ranges"] == "bytes"
    etag = head.headers["ETag"]

    part = get(hub_server, COMPRESSED, headers={"Range": "bytes=100-"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-{len(whole) - 1}/{len(whole)}"
    assert part.content == whole[100:]
    assert get(hub_server, COMPRESSED, headers={"Range": "bytes=5-9"}).content == whole[5:10]

    same = get(hub_server, COMPRESSED, headers={"Range": "bytes=100-", "If-Range": etag})
    assert same.status_code == 206
    changed = get(hub_server, COMPRESSED, headers={"Range": "bytes=100-", "If-Range": '"other"'})
    assert changed.status_code == 200 and changed.content == whole
    beyond = get(hub_server, COMPRESSED, headers={"Range": f"bytes={len(whole)}-"})
    assert beyond.status_code == 416

    stats = hub_server.stats()
    assert stats["archive_downloads"] == {HALF_PLUS_TWO: 2}
    assert stats["range_requests"] == 3
    assert stats["head_requests"] == 1


def test_uncompressed_answers_303_with_the_location_in_the_body(hub_server, model_root):
    response = raw_request(hub_server, "GET", f"/{HALF_PLUS_TWO}?tf-hub-format=uncompressed")
    assert response.status == 303
    assert response.getheader("Location") is None
    assert response.read().decode() == str((model_root / HALF_PLUS_TWO).resolve())
    assert hub_server.stats()["uncompressed_requests"] == 1


def test_uncompressed_base(model_root):
    with HubServer(model_root, extra_args=("--uncompressed-base", "gs://bucket/prefix/")) as server:
        response = raw_request(server, "GET", f"/{HALF_PLUS_TWO}?tf-hub-format=uncompressed")
        assert response.status == 303
        assert response.read().decode() == f"gs://bucket/prefix/{HALF_PLUS_TWO}/uncompressed"


def test_redirect_mode_sends_compressed_requests_to_storage(model_root):
    with HubServer(model_root, redirect=True) as server:
        first = get(server, COMPRESSED, allow_redirects=False)
        assert first.status_code == 302
        assert first.headers["Location"] == f"/_storage/{HALF_PLUS_TWO}.tar.gz"
        followed = get(server, COMPRESSED)
        assert followed.status_code == 200 and followed.url.endswith(f"/_storage/{HALF_PLUS_TWO}.tar.gz")
        with tarfile.open(fileobj=io.BytesIO(followed.content), mode="r:gz") as tar:
            assert "./saved_model.pb" in tar.getnames()
        stats = server.stats()
        assert stats["redirects"] == 2 and stats["archive_downloads"] == {HALF_PLUS_TWO: 1}


def test_stats_count_and_reset(hub_server):
    get(hub_server, COMPRESSED)
    get(hub_server, "/nope/nope/1?tf-hub-format=compressed")
    stats = hub_server.stats()
    assert stats["requests"] == 2 and stats["not_found"] == 1
    hub_server.reset()
    stats = hub_server.stats()
    assert stats["requests"] == 0 and stats["archive_downloads"] == {}


@pytest.mark.parametrize(
    "path",
    [
        "/nope/model/1?tf-hub-format=compressed",
        f"/{HALF_PLUS_TWO}",
        "/../../etc/passwd?tf-hub-format=compressed",
        "/test/../test/half_plus_two/1?tf-hub-format=compressed",
        "/test/%2e%2e/test/half_plus_two/1?tf-hub-format=compressed",
        "/..%2f..%2fetc/passwd.tar.gz",
    ],
)
def test_unknown_paths_and_traversal_are_404(hub_server, path):
    assert raw_request(hub_server, "GET", path).status == 404


def test_status_fault_is_consumed_once(hub_server):
    hub_server.faults([{"kind": "status", "code": 503, "retry_after": 2}])
    failed = get(hub_server, COMPRESSED)
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "2"
    assert get(hub_server, COMPRESSED).status_code == 200
    assert hub_server.stats()["faults_applied"] == 1


def test_fault_times_and_path(hub_server):
    hub_server.faults([{"kind": "status", "code": 500, "times": 2, "path": HALF_PLUS_TWO}])
    assert [get(hub_server, COMPRESSED).status_code for _ in range(3)] == [500, 500, 200]


def test_reset_and_truncate_faults_cut_the_body(hub_server):
    whole = get(hub_server, COMPRESSED).content
    hub_server.faults([{"kind": "reset", "at": 1000}])
    with pytest.raises(requests.exceptions.RequestException):
        get(hub_server, COMPRESSED).content  # noqa: B018 - reading the body raises
    hub_server.faults([{"kind": "truncate", "at": 1000}])
    with pytest.raises(requests.exceptions.RequestException):
        get(hub_server, COMPRESSED).content  # noqa: B018
    hub_server.faults([{"kind": "truncate", "at": 1000, "honest_length": True}])
    honest = get(hub_server, COMPRESSED)
    assert honest.content == whole[:1000] and honest.headers["Content-Length"] == "1000"


def test_corrupt_fault_flips_bytes(hub_server):
    whole = get(hub_server, COMPRESSED).content
    hub_server.faults([{"kind": "corrupt", "at": 500, "count": 3}])
    corrupted = get(hub_server, COMPRESSED).content
    assert len(corrupted) == len(whole)
    assert [i for i in range(len(whole)) if whole[i] != corrupted[i]] == [500, 501, 502]


def test_replace_body_ignore_range_and_redirect_loop_faults(hub_server):
    whole = get(hub_server, COMPRESSED).content
    hub_server.faults([{"kind": "replace_body", "body": "<html>login</html>"}])
    assert get(hub_server, COMPRESSED).content == b"<html>login</html>"
    hub_server.faults([{"kind": "ignore_range"}])
    ignored = get(hub_server, COMPRESSED, headers={"Range": "bytes=100-"})
    assert ignored.status_code == 200 and ignored.content == whole
    hub_server.faults([{"kind": "redirect_loop"}])
    with pytest.raises(requests.TooManyRedirects):
        get(hub_server, COMPRESSED)


def test_malformed_faults_are_rejected(hub_server):
    with pytest.raises(Exception, match="400"):
        hub_server.faults([{"kind": "meteor"}])


def test_the_product_server_has_no_control_endpoints(model_root):
    with HubServer(model_root, test_controls=False) as server:
        whole = get(server, COMPRESSED).content
        faults = b'[{"kind": "replace_body", "body": "<html>evil</html>"}]'
        assert requests.post(server.url + "/_faults", data=faults, timeout=30).status_code == 501
        assert requests.post(server.url + "/_reset", timeout=30).status_code == 501
        assert get(server, "/_stats").status_code == 404
        assert get(server, "/_loop/0", allow_redirects=False).status_code == 404
        assert get(server, COMPRESSED).content == whole


def test_help_has_no_test_controls():
    result = hubvendor("serve", "--help")
    assert result.returncode == 0 and "--test-controls" not in result.stdout and "_faults" not in result.stdout


def test_a_port_in_use_is_a_one_line_error(model_root):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = hubvendor("serve", str(model_root), "--port", str(port))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"hubvendor: error: serve --host/--port 127.0.0.1:{port}: cannot listen there (Address already in use)"
    )


def raw_exchange(port: int, request: bytes, timeout: float = 10) -> bytes:
    """Send ``request`` as is; return everything the server sends until it closes (or the first response)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


@pytest.mark.parametrize("length", ["abc", "100000000000", "-5"])
@pytest.mark.parametrize("controls", [False, True])
def test_post_bodies_are_not_read_before_the_request_is_accepted(model_root, length, controls):
    with HubServer(model_root, test_controls=controls) as server:
        for path in ("/_faults", "/_reset", "/elsewhere"):
            answer = raw_exchange(server.port, f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode())
            status = int(answer.split(b" ", 2)[1])
            assert status in ((400, 404) if controls else (501,)), answer
        assert get(server, COMPRESSED).status_code == 200


@pytest.fixture
def linked_root(tmp_path: Path, model_root: Path) -> Path:
    """A ROOT with links: out of it (to /, to a file, to a secret dir), inside it, dangling."""
    root = tmp_path / "root"
    shutil.copytree(model_root / HALF_PLUS_TWO, root / "test" / "half_plus_two" / "1")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("secret\n")
    (root / "evil").symlink_to("/")
    (root / "pub" / "file" ).mkdir(parents=True)
    (root / "pub" / "file" / "1.tar.gz").symlink_to("/etc/passwd")
    (root / "pub" / "dir").mkdir()
    (root / "pub" / "dir" / "1").symlink_to(secret)
    (root / "pub" / "alias").mkdir()
    (root / "pub" / "alias" / "1").symlink_to(root / "test" / "half_plus_two" / "1")
    leaky = root / "pub" / "leaky" / "1"
    shutil.copytree(model_root / HALF_PLUS_TWO, leaky)
    (leaky / "assets").mkdir(exist_ok=True)
    (leaky / "assets" / "passwd").symlink_to("/etc/passwd")
    dangling = root / "pub" / "dangling" / "1"
    shutil.copytree(model_root / HALF_PLUS_TWO, dangling)
    (dangling / "gone").symlink_to(tmp_path / "nowhere")
    return root


@pytest.mark.parametrize("controls", [False, True])
@pytest.mark.parametrize(
    "path",
    [
        "/evil/etc?tf-hub-format=compressed",
        "/evil/etc?tf-hub-format=uncompressed",
        "/evil/etc/passwd.tar.gz",
        "/pub/file/1?tf-hub-format=compressed",
        "/pub/dir/1?tf-hub-format=compressed",
        "/pub/dir/1?tf-hub-format=uncompressed",
        "/api/v1/models/evil/etc/x/y/z/download",
        "/api/v1/models/pub/dir/1/x/y/download/key.txt",
    ],
)
def test_links_leaving_root_are_not_followed(linked_root, controls, path):
    with HubServer(linked_root, test_controls=controls) as server:
        response = raw_request(server, "GET", path)
        body = response.read()
        assert response.status == 404 and b"root:" not in body and b"secret" not in body


@pytest.mark.parametrize("model", ["pub/leaky/1", "pub/dangling/1"])
def test_a_tree_with_a_bad_link_is_refused_in_one_line_and_the_server_goes_on(linked_root, model):
    with HubServer(linked_root, test_controls=False) as server:
        for _ in range(2):
            response = get(server, f"/{model}?tf-hub-format=compressed")
            assert response.status_code == 500
            assert response.text.count("\n") == 1 and ("symlink" in response.text), response.text
            assert b"root:" not in response.content
        assert get(server, COMPRESSED).status_code == 200


def test_a_model_dir_that_is_a_link_inside_root_is_served_as_its_files(linked_root):
    with HubServer(linked_root, test_controls=False) as server:
        original = get(server, COMPRESSED).content
        alias = get(server, "/pub/alias/1?tf-hub-format=compressed")
        assert alias.status_code == 200
        with tarfile.open(fileobj=io.BytesIO(alias.content), mode="r:gz") as tar:
            assert all(m.isfile() or m.isdir() for m in tar.getmembers())
            assert "./saved_model.pb" in tar.getnames()
        assert alias.content == original


@pytest.mark.parametrize("port", ["99999", "-1", "http", "1e3"])
def test_a_bad_port_is_a_one_line_error(model_root, port):
    result = hubvendor("serve", str(model_root), "--port", port)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"hubvendor: error: serve --port {port!r}: expected a port number from 0 to 65535"


# -- ranges (issue 16) --------------------------------------------------------------------------


@pytest.fixture
def stored_root(tmp_path: Path, model_root: Path) -> Path:
    root = tmp_path / "stored"
    (root / "pub" / "model").mkdir(parents=True)
    (root / "pub" / "model" / "3.tar.gz").write_bytes(tar_gz_bytes(model_root / HALF_PLUS_TWO))
    shutil.copytree(model_root / HALF_PLUS_TWO, root / "pub" / "tree" / "1")
    return root


@pytest.mark.parametrize("path", ["/pub/model/3?tf-hub-format=compressed", "/pub/tree/1?tf-hub-format=compressed"])
def test_single_ranges_validators_and_if_range(stored_root, path):
    with HubServer(stored_root, test_controls=False) as server:
        whole = get(server, path)
        body, size = whole.content, len(whole.content)
        etag = whole.headers["ETag"]
        assert whole.headers["Accept-Ranges"] == "bytes" and not etag.startswith("W/") and etag.startswith('"')
        assert email.utils.parsedate_to_datetime(whole.headers["Last-Modified"]) is not None
        for header, expected in [("bytes=-10", body[-10:]), ("bytes=0-0", body[:1]), (f"bytes=5-{size + 100}", body[5:])]:
            part = get(server, path, headers={"Range": header})
            assert part.status_code == 206 and part.content == expected, header
            first = size - 10 if header == "bytes=-10" else int(header[6:].split("-")[0])
            assert part.headers["Content-Range"] == f"bytes {first}-{first + len(expected) - 1}/{size}"
        for ignored in ["bytes=abc", "bytes=0-1,5-6", "bytes=9-3", "items=0-5", "bytes=²-"]:
            response = get(server, path, headers={"Range": ignored})
            assert response.status_code == 200 and response.content == body, ignored
        for stale in ["W/" + etag, '"other"', whole.headers["Last-Modified"]]:
            response = get(server, path, headers={"Range": "bytes=10-", "If-Range": stale})
            assert response.status_code == 200 and response.content == body, stale
        assert get(server, path, headers={"Range": "bytes=10-", "If-Range": etag}).content == body[10:]
        for unsatisfiable in [f"bytes={size}-", "bytes=-0"]:
            response = get(server, path, headers={"Range": unsatisfiable})
            assert response.status_code == 416 and response.headers["Content-Range"] == f"bytes */{size}"


def test_generated_archives_are_stable_until_the_tree_changes(stored_root):
    path = "/pub/tree/1?tf-hub-format=compressed"
    with HubServer(stored_root, test_controls=False) as server:
        first = get(server, path)
    with HubServer(stored_root, test_controls=False) as server:  # another process: the same bytes and ETag
        again = get(server, path)
        assert (again.content, again.headers["ETag"]) == (first.content, first.headers["ETag"])
        (stored_root / "pub" / "tree" / "1" / "extra.txt").write_text("new file\n")
        changed = get(server, path, headers={"Range": "bytes=10-", "If-Range": first.headers["ETag"]})
        assert changed.status_code == 200 and changed.headers["ETag"] != first.headers["ETag"]
        with tarfile.open(fileobj=io.BytesIO(changed.content), mode="r:gz") as tar:
            assert "./extra.txt" in tar.getnames()


# -- Kaggle paths (issue 14) --------------------------------------------------------------------


@pytest.fixture
def kaggle_root(tmp_path: Path, model_root: Path) -> Path:
    root = tmp_path / "kaggle"
    shutil.copytree(model_root / HALF_PLUS_TWO, root / "owner" / "half" / "tensorflow2" / "default" / "1")
    (root / "owner" / "stored" / "keras" / "base").mkdir(parents=True)
    (root / "owner" / "stored" / "keras" / "base" / "2.tar.gz").write_bytes(tar_gz_bytes(model_root / HALF_PLUS_TWO))
    return root


def test_kaggle_download_paths(kaggle_root, model_root):
    with HubServer(kaggle_root, test_controls=False) as server:
        tree = get(server, "/owner/half/tensorflow2/default/1?tf-hub-format=compressed").content
        assert get(server, "/api/v1/models/owner/half/tensorflow2/default/1/download").content == tree
        assert get(server, "/api/v1/models/owner/half/TensorFlow2/default/1/download").content == tree
        long_form = "/models/owner/half/frameworks/TensorFlow2/variations/default/versions/1?tf-hub-format=compressed"
        assert get(server, long_form).content == tree
        stored = get(server, "/api/v1/models/owner/stored/keras/base/2/download")
        assert stored.status_code == 200
        assert stored.content == (kaggle_root / "owner" / "stored" / "keras" / "base" / "2.tar.gz").read_bytes()
        one = get(server, "/api/v1/models/owner/half/tensorflow2/default/1/download/saved_model.pb")
        assert one.status_code == 200 and one.content == (model_root / HALF_PLUS_TWO / "saved_model.pb").read_bytes()
        part = get(server, "/api/v1/models/owner/half/tensorflow2/default/1/download/saved_model.pb",
                   headers={"Range": "bytes=0-9"})
        assert part.status_code == 206 and part.content == one.content[:10]
        index = "/api/v1/models/owner/half/tensorflow2/default/1/download/variables/variables.index"
        assert get(server, index).content == (model_root / HALF_PLUS_TWO / "variables" / "variables.index").read_bytes()
        for missing in [
            "/api/v1/models/owner/half/tensorflow2/default/2/download",
            "/api/v1/models/owner/half/tensorflow2/default/1",
            "/api/v1/models/owner/half/tensorflow2/default/1/download/nope.pb",
            "/api/v1/models/owner/half/tensorflow2/default/1/download/variables",
            "/api/v1/models/owner/half/tensorflow2/default/1/download/../../../../../../../etc/passwd",
            "/api/v1/models/owner/half/download",
        ]:
            assert raw_request(server, "GET", missing).status == 404, missing


def test_signed_storage_redirect_chain_and_expiring_signatures(kaggle_root):
    with HubServer(kaggle_root) as server:
        start = "/_kaggle_hub/owner/half/tensorflow2/default/1?tf-hub-format=compressed"
        hop1 = get(server, start, allow_redirects=False)
        assert hop1.status_code == 302
        assert hop1.headers["Location"].startswith("/models/owner/half/frameworks/tensorflow2/variations/default/versions/1?")
        hop2 = get(server, hop1.headers["Location"], allow_redirects=False)
        assert hop2.status_code == 302 and "X-Goog-Signature=" in hop2.headers["Location"]
        assert "X-Goog-Expires=" in hop2.headers["Location"]
        signed = hop2.headers["Location"]
        direct = get(server, "/owner/half/tensorflow2/default/1?tf-hub-format=compressed").content
        assert get(server, signed).content == direct
        followed = get(server, start)
        assert followed.status_code == 200 and followed.content == direct and len(followed.history) == 2
        server.expire_signatures()
        assert get(server, signed).status_code == 403
        assert get(server, start).status_code == 200  # new signatures still work
        api = get(server, "/api/v1/models/owner/half/tensorflow2/default/1/download?signed=1", allow_redirects=False)
        assert api.status_code == 302 and "X-Goog-Signature=" in api.headers["Location"]
        stats = server.stats()
        assert stats["expired_signatures"] == 1 and stats["signed_downloads"] == 3


def test_kaggle_get_answers_the_highest_version(kaggle_root):
    """``.../<variation>/get`` gives ``versionNumber`` (what ``hubvendor lock`` pins a versionless handle to)."""
    shutil.copytree(kaggle_root / "owner" / "half" / "tensorflow2" / "default" / "1",
                    kaggle_root / "owner" / "half" / "tensorflow2" / "default" / "12")
    (kaggle_root / "owner" / "half" / "tensorflow2" / "default" / "notes").mkdir()
    with HubServer(kaggle_root, test_controls=False) as server:
        assert get(server, "/api/v1/models/owner/half/tensorflow2/default/get").json() == {"versionNumber": 12}
        assert get(server, "/api/v1/models/owner/half/TensorFlow2/default/get").json() == {"versionNumber": 12}
        assert get(server, "/api/v1/models/owner/stored/keras/base/get").json() == {"versionNumber": 2}
        for missing in ["/api/v1/models/owner/half/tensorflow2/nope/get", "/api/v1/models/owner/half/get",
                        "/api/v1/models/../../../get"]:
            assert raw_request(server, "GET", missing).status == 404, missing
