"""Run hubvendor's TF Hub-protocol server for tests (a pytest plugin). Filled in with the server."""
