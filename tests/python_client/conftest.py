"""Shared fixtures of the dynamo-dlm-fn tests: they run against the local stack that
`scripts/stack.sh up` (or `scripts/test.sh`) started, whose environment `.stack/env` sets."""
import os
import sys
import uuid

import pytest

from .support import ROOT

try:
    import dynamo_dlm_fn  # noqa: F401 - the installed package (scripts/test.sh installs it)
except ImportError:  # a checkout without the install: test the source (test_installed_* fails)
    sys.path.insert(0, str(ROOT / "clients" / "python" / "src"))
    import dynamo_dlm_fn  # noqa: F401


@pytest.fixture(scope="session")
def stack():
    """The local stack's environment, checked."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_LAMBDA", "")
    assert endpoint.startswith("http://127.0.0.1:"), (
        "run through `bash scripts/test.sh`, or `source .stack/env` of a running local stack")
    return {
        "lambda": endpoint,
        "dynamodb": os.environ["AWS_ENDPOINT_URL_DYNAMODB"],
        "function": os.environ["DLM_FUNCTION"],
        "table": os.environ.get("LOCK_TABLE", "dynamo_dlm_locks"),
    }


@pytest.fixture
def resource(request):
    """A resource id of this test alone."""
    return f"pyclient/{request.node.name[:60]}/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def fn(stack):
    import dynamo_dlm_fn as dlm
    return dlm.LockFunction()
