"""The package and its dynamo-dlm-compatible surface: installed from clients/python, dynamo-dlm's
names and signatures, module defaults read at construction, LockNotAcquiredError as dynamo-dlm's,
reacquire/release rules, the context manager, the function name, the table_name warning."""
import filecmp
import importlib.metadata
import inspect
import warnings
from pathlib import Path

import pytest

import dynamo_dlm_fn as dlm
import dynamo_dlm_fn.lock as lock_module
from .support import ROOT, Interposed, real_lambda_client
from dynamo_dlm_fn._invoke import READ_TIMEOUT_S, shared_lambda_client


def test_installed_from_this_checkout():
    """scripts/test.sh pip-installs clients/python; the installed copy is this source."""
    try:
        version = importlib.metadata.version("dynamo-dlm-fn")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("dynamo-dlm-fn is not installed: pip install ./clients/python (scripts/test.sh does)")
    assert version == dlm.__version__ == "0.1.0"
    installed = Path(dlm.__file__).parent
    source = ROOT / "clients" / "python" / "src" / "dynamo_dlm_fn"
    names = sorted(p.name for p in source.iterdir() if p.suffix in (".py", ".typed"))
    assert "py.typed" in names and "__init__.py" in names
    _, mismatch, missing = filecmp.cmpfiles(source, installed, names, shallow=False)
    assert not mismatch and not missing, f"stale install: {mismatch + missing} differ; reinstall"
    requires = importlib.metadata.requires("dynamo-dlm-fn") or []
    assert [r.split(";")[0].strip() for r in requires] == ["boto3"]


def test_dynamo_dlms_names_and_signatures():
    for name in ("DynamoDbLock", "LockNotAcquiredError", "DEFAULT_TABLE_NAME", "DEFAULT_DURATION"):
        assert name in dlm.__all__ and hasattr(dlm, name)
    assert (dlm.DEFAULT_TABLE_NAME, dlm.DEFAULT_DURATION) == ("dynamo_dlm_locks", 10)
    params = list(inspect.signature(dlm.DynamoDbLock).parameters.values())
    assert [p.name for p in params[:5]] == ["resource_id", "duration", "table_name", "concurrency",
                                            "wait_forever"]
    assert all(p.kind is p.KEYWORD_ONLY for p in params[5:]), "our extras never take a position"
    namespace = {}
    exec("from dynamo_dlm_fn import *", namespace)
    assert {"DynamoDbLock", "LockNotAcquiredError", "DEFAULT_TABLE_NAME", "DEFAULT_DURATION"} <= set(namespace)
    # Positional use as dynamo-dlm 1.0 and 2.1 allow.
    assert dlm.DynamoDbLock("r", 5, "dynamo_dlm_locks").duration == 5
    assert dlm.DynamoDbLock("r", 5, None, 2, False).concurrency == 2


def test_lock_not_acquired_error_is_dynamo_dlms():
    e = dlm.LockNotAcquiredError("Cannot release a lock that was never acquired")
    assert isinstance(e, RuntimeError) and e.msg == "Cannot release a lock that was never acquired"
    assert str(e) == repr(e) == "LockNotAcquiredError: Cannot release a lock that was never acquired"
    assert str(dlm.LockNotAcquiredError()) == str(e), "1.0 raised it without arguments"
    for cls in (dlm.LockTimeoutError, dlm.LockCancelledError, dlm.LockBusyError):
        assert issubclass(cls, dlm.LockNotAcquiredError)
    assert issubclass(dlm.LockTimeoutError, TimeoutError)
    assert all(issubclass(getattr(dlm, n), dlm.LockClientError)
               for n in dlm.__all__ if n.endswith("Error"))


def test_module_defaults_are_read_at_construction(monkeypatch):
    monkeypatch.setattr(dlm, "DEFAULT_DURATION", 3)
    lock = dlm.DynamoDbLock("r")
    monkeypatch.setattr(dlm, "DEFAULT_DURATION", 7)
    assert lock.duration == 3 and dlm.DynamoDbLock("r").duration == 7
    assert dlm.DynamoDbLock("r", duration=0).duration == 7, "duration or DEFAULT_DURATION"
    assert dlm.DynamoDbLock("r", duration=None).duration == 7
    assert dlm.DynamoDbLock("r", duration=1.5).duration == 1.5
    with pytest.raises(ValueError):
        dlm.DynamoDbLock("r", duration=-1)


def test_a_table_name_draws_one_warning_per_name(monkeypatch):
    monkeypatch.setattr(lock_module, "_warned_tables", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dlm.DynamoDbLock("r")
        dlm.DynamoDbLock("r", table_name="dynamo_dlm_locks")
        dlm.DynamoDbLock("r", table_name="other")
        dlm.DynamoDbLock("r", table_name="other")
        monkeypatch.setattr(dlm, "DEFAULT_TABLE_NAME", "third")
        lock = dlm.DynamoDbLock("r")
    assert [str(w.message).split("=")[1].split(":")[0] for w in caught] == ["'other'", "'third'"]
    assert all(w.category is dlm.TableNameIgnoredWarning for w in caught)
    assert lock.table_name == "third"


def test_the_function_name(monkeypatch):
    monkeypatch.delenv("DLM_FUNCTION", raising=False)
    assert dlm.DynamoDbLock("r").function_name == "dynamo-dlm-lock" == dlm.DEFAULT_FUNCTION
    monkeypatch.setenv("DLM_FUNCTION", "from-env")
    assert dlm.DynamoDbLock("r").function_name == "from-env"
    assert dlm.DynamoDbLock("r", function_name="given").function_name == "given"
    assert dlm.LockFunction().function_name == "from-env"


def test_the_shared_client_resends_nothing_itself(stack):
    client = shared_lambda_client()
    assert client is shared_lambda_client(), "one per process"
    config = client.meta.config
    assert config.retries["total_max_attempts"] == 1
    assert config.read_timeout == READ_TIMEOUT_S > dlm.DEFAULT_WAIT_CHUNK


def test_acquire_release_rules(stack, resource):
    lock = dlm.DynamoDbLock(resource, duration=5)
    with pytest.raises(dlm.LockNotAcquiredError, match="never acquired"):
        lock.release()
    assert lock.acquire() is True
    with pytest.raises(dlm.LockNotAcquiredError, match="Cannot reacquire lock that hasn't been released yet"):
        lock.acquire()
    assert lock.describe().yours is True and lock.locked()
    assert lock.release() is True
    with pytest.raises(dlm.LockNotAcquiredError):
        lock.release()
    assert not lock.locked() and lock.fence is not None, "the last grant's fence stays readable"
    first = lock.fence
    assert lock.try_acquire() and lock.fence > first, "the same object takes it again"
    assert lock.release()


def test_the_context_manager_returns_the_lock_and_releases_on_errors(stack, resource):
    with pytest.raises(KeyError):
        with dlm.DynamoDbLock(resource, duration=5) as lock:
            assert isinstance(lock, dlm.DynamoDbLock) and lock.is_held() and lock.fence
            raise KeyError("work failed")
    assert lock.last_release.released and not lock.locked()


def test_a_given_lambda_client_is_used(stack, resource, monkeypatch):
    client = Interposed(real_lambda_client())
    lock = dlm.DynamoDbLock(resource, lambda_client=client)
    with lock:
        pass
    assert lock.try_acquire() and lock.release()
    assert client.ops() == ["acquire", "release"] * 2
    wait, _, tried, _ = [p for p, _, _ in client.calls]
    assert wait["queue"] is True and wait["wait_ms"] == 2000 and wait["duration_ms"] == 10_000
    assert tried["queue"] is False and "wait_ms" not in tried
    assert "fresh_owner" not in tried, "a given client may resend unseen: no fresh-owner promise"
    # The package's own client (retries off) makes the promise on a first try.
    sent = []
    real_call = dlm._invoke.Invoker.call
    monkeypatch.setattr(dlm._invoke.Invoker, "call",
                        lambda self, p, *a: (sent.append(p), real_call(self, p, *a))[1])
    own = dlm.DynamoDbLock(resource)
    assert own.try_acquire() and own.release()
    assert sent[0]["fresh_owner"] is True and sent[0]["queue"] is False


def test_a_holder_label_shows_in_describe(stack, resource):
    lock = dlm.DynamoDbLock(resource, holder="host-1/pid-2")
    with lock:
        status = dlm.LockFunction().describe(resource)
        assert status.holder == "host-1/pid-2" and status.yours is None
        assert status.owner_digest == lock.owner_digest
