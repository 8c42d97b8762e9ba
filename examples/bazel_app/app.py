"""Prints the example models' outputs as JSON: bazel run //:app -- 1 2 3"""

import json
import sys

import predict


def main(argv):
    values = [float(v) for v in argv] or [1.0, 2.0, 3.0]
    print(json.dumps({
        "half_plus_two": predict.half_plus_two(values),
        "dense": predict.dense([values[:3] + [0.0] * (3 - len(values[:3]))]),
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
