"""WORKSPACE setup for hubvendor's Bazel rules.

    load("@hubvendor//bazel:repositories.bzl", "hubvendor_dependencies")
    hubvendor_dependencies(offline = True)
    register_toolchains("@hubvendor_python//:toolchain")
"""

load("//bazel/private:offline.bzl", "STAND_INS", "offline_stand_in")
load("//bazel/private:python.bzl", "python_interpreter")

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
