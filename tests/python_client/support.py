"""Helpers of the dynamo-dlm-fn tests (a module of its own: `conftest` is a name every test
folder of this repository has)."""
import io
import json
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def real_lambda_client():
    """A client of the local emulator like the package's own (retries off)."""
    import boto3
    from botocore.config import Config
    return boto3.session.Session().client(
        "lambda", config=Config(retries={"total_max_attempts": 1}, read_timeout=75))


class Interposed:
    """A boto3 Lambda client that forwards to a real one, letting a test get in the way of chosen
    invokes: `before(payload)` may block or raise before the invoke is sent, `after(payload,
    answer)` may raise after it was answered (an answer lost on the way back). Every payload and
    answer is recorded."""

    def __init__(self, real, before=None, after=None):
        self._real = real
        self.meta = real.meta
        self.before = before
        self.after = after
        self.calls = []
        self._mutex = threading.Lock()

    def invoke(self, **kwargs):
        payload = json.loads(kwargs["Payload"])
        if self.before is not None:
            self.before(payload)
        out = self._real.invoke(**kwargs)
        body = out["Payload"].read()
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        with self._mutex:
            self.calls.append((payload, answer, out.get("FunctionError")))
        if self.after is not None:
            self.after(payload, answer)
        from botocore.response import StreamingBody
        return {**out, "Payload": StreamingBody(io.BytesIO(body), len(body))}

    def ops(self):
        with self._mutex:
            return [p["op"] for p, _, _ in self.calls]
