"""Tests of the Python client (clients/python): a package, so that its conftest and modules
never take the names of other test folders' (tests/stepfunctions imports `conftest`)."""
