"""`make demo`: hubvendor's main job end to end, on loopback, with a model built here.

1. Build a small TF2 SavedModel with TensorFlow and serve it with `hubvendor serve`.
2. Point a downloader config (Bazel syntax) at the server: tfhub.dev -> loopback.
3. Resolve the canonical handle: one download into a tensorflow_hub-compatible cache.
4. Stop the server, set HUBVENDOR_OFFLINE=1, resolve and load again: no network needed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HANDLE = "https://tfhub.dev/demo/half_plus_two/1"


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def hubvendor(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-m", "hubvendor", *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"hubvendor {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout.strip()


def build_model(path: Path) -> None:
    import tensorflow as tf

    class HalfPlusTwo(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = tf.Variable(0.5), tf.Variable(2.0)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, x):
            return self.a * x + self.b

    module = HalfPlusTwo()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.__call__})


def start_server(root: Path) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen([sys.executable, "-m", "hubvendor", "serve", str(root), "--port", "0"],
                              stdout=subprocess.PIPE, text=True)
    banner = server.stdout.readline().strip()
    match = re.search(r"(http://127\.0\.0\.1:\d+)/", banner)
    if not match:
        server.kill()
        sys.exit(f"server did not start: {banner!r}")
    return server, match.group(1)


def predict(env: dict[str, str]) -> str:
    code = (
        "import tensorflow as tf, tensorflow_hub as hub\n"
        f"model = hub.load({HANDLE!r})\n"
        "print(model(tf.constant([1.0, 2.0, 3.0])).numpy().tolist())"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"loading the model failed:\n{result.stderr[-3000:]}")
    return result.stdout.strip().splitlines()[-1]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="hubvendor-demo-"))
    step("Building a TF2 SavedModel (y = 0.5 x + 2) with TensorFlow")
    build_model(work / "models" / "demo" / "half_plus_two" / "1")
    server, url = start_server(work / "models")
    print(f"hubvendor serve is answering at {url}")
    config = work / "downloader.cfg"
    config.write_text(f"# tfhub.dev is unreachable here: send it to the local server\nrewrite tfhub.dev/(.*) {url}/$1\n")
    env = {**os.environ, "HUBVENDOR_DOWNLOADER_CONFIG": str(config), "TFHUB_CACHE_DIR": str(work / "cache")}
    env.pop("HUBVENDOR_PATH", None)
    try:
        step(f"hubvendor which {HANDLE}")
        print(hubvendor("which", HANDLE, env=env))
        step(f"hubvendor resolve {HANDLE}  (downloads through the mirror rule)")
        print(hubvendor("resolve", HANDLE, env=env))
    finally:
        server.terminate()
        server.wait()
    offline = {**env, "HUBVENDOR_OFFLINE": "1"}
    step("Server stopped, HUBVENDOR_OFFLINE=1: resolve again")
    print(hubvendor("resolve", HANDLE, env=offline))
    print(hubvendor("which", HANDLE, env=offline))
    step(f"Unchanged application code, offline: hub.load({HANDLE!r})")
    print(f"predictions for [1, 2, 3]: {predict(offline)}")
    print(f"\nDemo files are in {work}")


if __name__ == "__main__":
    main()
