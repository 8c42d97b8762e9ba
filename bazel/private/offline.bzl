"""Stand-ins for the repositories Bazel 4's WORKSPACE suffix would download (see bazel/offline/README.md)."""

STAND_INS = ("rules_cc", "rules_java", "remote_coverage_tools")

def _stand_in_impl(rctx):
    source = rctx.path(Label("//bazel/offline:README.md")).dirname.get_child(rctx.attr.stand_in)
    for child in source.readdir():
        rctx.symlink(child, child.basename)

offline_stand_in = repository_rule(
    implementation = _stand_in_impl,
    doc = "A copy (by symlinks) of bazel/offline/<stand_in>.",
    attrs = {"stand_in": attr.string(mandatory = True, values = list(STAND_INS))},
)
