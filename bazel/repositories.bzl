"""WORKSPACE setup for hubvendor's Bazel rules, and models from hubvendor.lock.

    load("@hubvendor//bazel:repositories.bzl", "hub_lock", "hubvendor_dependencies")
    hubvendor_dependencies(offline = True)
    register_toolchains("@hubvendor_python//:toolchain")
    hub_lock(name = "hub_lock", lock = "//:hubvendor.lock")
    load("@hub_lock//:models.bzl", "hub_lock_models")
    hub_lock_models()
"""

load("//bazel/private:hub_lock.bzl", _hub_lock = "hub_lock")
load("//bazel/private:offline.bzl", "STAND_INS", "offline_stand_in")
load("//bazel/private:python.bzl", "python_interpreter")

hub_lock = _hub_lock

def hubvendor_dependencies(offline = False, python_interpreter_path = ""):
    """Declares the repositories hubvendor's rules need (each unless the WORKSPACE already has it).

    Args:
      offline: also declare local stand-ins for rules_cc, rules_java and remote_coverage_tools, which
        Bazel 4 otherwise downloads for every build and test (`bazel coverage` needs the real ones).
      python_interpreter_path: interpreter of @hubvendor_python//:toolchain (absolute). Default:
        $HUBVENDOR_PYTHON at fetch time (`--repo_env=HUBVENDOR_PYTHON=...`), else python3 on PATH.
        The interpreter must have TensorFlow, tensorflow_hub and hubvendor installed. Register it with
        register_toolchains("@hubvendor_python//:toolchain").
    """
    if not native.existing_rule("hubvendor_python"):
        python_interpreter(name = "hubvendor_python", interpreter_path = python_interpreter_path)
    if offline:
        for name in STAND_INS:
            if not native.existing_rule(name):
                offline_stand_in(name = name, stand_in = name)
