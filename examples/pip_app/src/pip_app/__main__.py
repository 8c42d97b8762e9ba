"""``pip-app``: print both models' outputs as JSON."""

from __future__ import annotations

import json

from . import predict


def main() -> None:
    print(json.dumps(predict([1.0, 2.0, 3.0], [[1.0, 2.0, 3.0]])))


if __name__ == "__main__":
    main()
