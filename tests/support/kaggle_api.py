"""A loopback stand-in for Kaggle's model API, speaking both dialects real clients use.

- kagglehub / kagglesdk: ``POST /api/v1/models.ModelApiService/<Method>`` with a JSON body
  (``GetModelInstance``, ``ListModelInstanceVersionFiles``, ``DownloadModelInstanceVersion``). kagglesdk's
  endpoints are fixed per ``KAGGLE_API_ENVIRONMENT``; tests use ``LOCALHOST`` (``http://localhost``) and
  ``HTTP_PROXY`` pointing here, so this server gets absolute-form request targets and binds port 0.
- the REST paths of the Kaggle CLI and hubvendor: ``GET /api/v1/models/<o>/<m>/<f>/<v>/<n>/download[/<path>]``
  and ``GET /api/v1/models/<o>/<m>/<f>/<v>/get``.

Downloads answer 302 to ``/storage/...`` with an expiring signature, as Kaggle redirects to signed storage.
With ``authorization`` set, API calls without exactly that ``Authorization`` header get 401.
Every request is recorded in ``requests`` (method, path, whether it sent an Authorization header).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RPC_PREFIX = "/api/v1/models.ModelApiService/"
REST_PREFIX = "/api/v1/models/"
STORAGE_PREFIX = "/storage/"


def framework_name(value: str) -> str:
    """``MODEL_FRAMEWORK_TENSOR_FLOW_2`` / ``tensorFlow2`` -> ``tensorflow2``."""
    return value.removeprefix("MODEL_FRAMEWORK_").replace("_", "").lower()


class KaggleApi:
    """``with KaggleApi() as api: api.add("o/m/f/v", version, directory)``; ``api.url`` is its base URL."""

    def __init__(self, authorization: str | None = None) -> None:
        self.models: dict[tuple[str, str, str, str], dict[int, Path]] = {}
        self.authorization = authorization
        self.requests: list[tuple[str, str, bool]] = []
        self.secret = os.urandom(8).hex()  # replace it to stop accepting the signatures issued so far
        self.issued: list[str] = []  # every signature handed out in a redirect
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                api._serve(self, "GET")

            def do_POST(self) -> None:
                api._serve(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> KaggleApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, slug: str, version: int, directory: Path) -> None:
        owner, model, framework, variation = slug.split("/")
        self.models.setdefault((owner, model, framework_name(framework), variation), {})[version] = Path(directory)

    def downloads(self) -> list[str]:
        """Paths of the storage objects fetched so far."""
        return [path for method, path, _ in self.requests if path.startswith(STORAGE_PREFIX)]

    # -- serving -----------------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        target = urllib.parse.urlsplit(handler.path)  # absolute-form through a proxy, or origin-form
        path, query = urllib.parse.unquote(target.path), urllib.parse.parse_qs(target.query)
        self.requests.append((method, path, "Authorization" in handler.headers))
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        if path.startswith(STORAGE_PREFIX):
            return self._storage(handler, path, query)
        if self.authorization and handler.headers.get("Authorization") != self.authorization:
            return _json(handler, 401, {"code": 401, "message": "Unauthenticated"})
        if method == "POST" and path.startswith(RPC_PREFIX):
            return self._rpc(handler, path[len(RPC_PREFIX):], json.loads(body or b"{}"))
        if method == "GET" and path.startswith(REST_PREFIX):
            return self._rest(handler, path[len(REST_PREFIX):].split("/"))
        _json(handler, 404, {"code": 404, "message": "Not found"})

    def _rpc(self, handler: BaseHTTPRequestHandler, name: str, request: dict) -> None:
        key = (request.get("ownerSlug", ""), request.get("modelSlug", ""),
               framework_name(request.get("framework", "")), request.get("instanceSlug", ""))
        versions = self.models.get(key)
        if not versions:
            return _json(handler, 404, {"code": 404, "message": "Not found"})
        if name == "GetModelInstance":
            return _json(handler, 200, {"versionNumber": max(versions)})
        directory = versions.get(request.get("versionNumber", 0))
        if directory is None:
            return _json(handler, 404, {"code": 404, "message": "Not found"})
        if name == "ListModelInstanceVersionFiles":
            files = [{"name": p.relative_to(directory).as_posix(), "size": p.stat().st_size}
                     for p in sorted(directory.rglob("*")) if p.is_file()]
            return _json(handler, 200, {"files": files, "nextPageToken": ""})
        if name == "DownloadModelInstanceVersion":
            return self._redirect(handler, key, request["versionNumber"], request.get("path") or "")
        _json(handler, 404, {"code": 404, "message": f"unknown method {name}"})

    def _rest(self, handler: BaseHTTPRequestHandler, parts: list[str]) -> None:
        if len(parts) < 5:
            return _json(handler, 404, {"code": 404, "message": "Not found"})
        key = (parts[0], parts[1], framework_name(parts[2]), parts[3])
        versions = self.models.get(key)
        if versions and parts[4] == "get" and len(parts) == 5:
            return _json(handler, 200, {"versionNumber": max(versions)})
        if versions and len(parts) >= 6 and parts[4].isdigit() and int(parts[4]) in versions and parts[5] == "download":
            return self._redirect(handler, key, int(parts[4]), "/".join(parts[6:]))
        _json(handler, 404, {"code": 404, "message": "Not found"})

    def _redirect(self, handler: BaseHTTPRequestHandler, key: tuple, version: int, file: str) -> None:
        expires = int(time.time()) + 60
        path = "/".join(key) + f"/{version}/" + (file or "archive.tar.gz")
        signature = self._sign(path, expires)
        self.issued.append(signature)
        location = f"{STORAGE_PREFIX}{urllib.parse.quote(path)}?Expires={expires}&Signature={signature}"
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _sign(self, path: str, expires: int) -> str:
        import hashlib

        return hashlib.sha256(f"{self.secret}:{path}:{expires}".encode()).hexdigest()[:32]

    def _storage(self, handler: BaseHTTPRequestHandler, path: str, query: dict) -> None:
        relative = path[len(STORAGE_PREFIX):]
        expires = int((query.get("Expires") or ["0"])[0])
        if expires < time.time() or (query.get("Signature") or [""])[0] != self._sign(relative, expires):
            return _json(handler, 403, {"code": 403, "message": "signature expired or invalid"})
        owner, model, framework, variation, version, file = relative.split("/", 5)
        directory = self.models[(owner, model, framework, variation)][int(version)]
        if file == "archive.tar.gz":
            data = _tar_gz(directory)
        else:
            target = directory / file
            if not target.is_file():
                return _json(handler, 404, {"code": 404, "message": "Not found"})
            data = target.read_bytes()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def _tar_gz(directory: Path) -> bytes:
    """The same bytes for the same tree, as a storage object is (gzip header time 0)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for item in sorted(directory.rglob("*")):
            tar.add(str(item), arcname=item.relative_to(directory).as_posix(), recursive=False)
    return buffer.getvalue()


def _json(handler: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def kagglehub_env(api: KaggleApi, cache: Path) -> dict[str, str]:
    """Environment that sends kagglehub (kagglesdk) to ``api`` and its cache to ``cache``."""
    return {
        "KAGGLE_API_ENVIRONMENT": "LOCALHOST",
        "HTTP_PROXY": api.url, "http_proxy": api.url,
        "NO_PROXY": "", "no_proxy": "",
        "KAGGLEHUB_CACHE": str(cache),
    }
