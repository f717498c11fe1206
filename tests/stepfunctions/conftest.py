"""Runs the example state machines for real in moto's Step Functions interpreter, with their
lambda:invoke calls sent to lock-fn behind the local stack's `cargo lambda watch`."""
import hashlib
import io
import json
import os
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.response import StreamingBody
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/lock-example"


def lambda_endpoint() -> str:
    endpoint = os.environ.get("AWS_ENDPOINT_URL_LAMBDA", "")
    assert endpoint.startswith("http://127.0.0.1:"), (
        "AWS_ENDPOINT_URL_LAMBDA must point at the local emulator: run `bash scripts/test.sh`"
    )
    return endpoint


FUNCTION = os.environ.get("DLM_FUNCTION", "lock-fn")


def _function_error_as_real_lambda_answers(http_response, parsed, **_):
    """cargo lambda watch answers a function error with HTTP 500 and the error JSON; real Lambda
    answers HTTP 200 with X-Amz-Function-Error. Make the former look like the latter."""
    if http_response.status_code == 500 and b"errorType" in http_response.content:
        body = http_response.content
        http_response.status_code = 200
        parsed.clear()
        parsed.update(
            StatusCode=200,
            FunctionError="Unhandled",
            Payload=StreamingBody(io.BytesIO(body), len(body)),
        )


def emulator_lambda_client(region=REGION, **_):
    client = boto3.client(
        "lambda",
        region_name=region,
        endpoint_url=lambda_endpoint(),
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=120),
    )
    client.meta.events.register("after-call.lambda.Invoke", _function_error_as_real_lambda_answers)
    return client


class LockFn:
    """Direct calls to lock-fn, for setting up and checking lock state."""

    def __init__(self):
        self.client = emulator_lambda_client()

    def call(self, payload: dict) -> dict:
        out = self.client.invoke(FunctionName=FUNCTION, Payload=json.dumps(payload).encode())
        body = json.loads(out["Payload"].read())
        assert not out.get("FunctionError"), body
        return body

    def hold(self, resource: str, owner: str, duration_ms: int = 120_000) -> dict:
        grant = self.call({"op": "acquire", "resource_id": resource, "owner": owner, "duration_ms": duration_ms})
        assert grant["acquired"], grant
        return grant

    def release(self, resource: str, owner: str) -> bool:
        return self.call({"op": "release", "resource_id": resource, "owner": owner})["released"]

    def describe(self, resource: str, owner: str = None) -> dict:
        request = {"op": "describe", "resource_id": resource}
        if owner is not None:
            request["owner"] = owner
        return self.call(request)


def owner_digest(owner: str) -> str:
    """What describe shows for a holder: the first 128 bits of SHA-256 of its owner, in hex."""
    return hashlib.sha256(owner.encode()).hexdigest()[:32]


def status_change(arn: str, machine: str, payload: dict, status: str = "ABORTED") -> dict:
    """The EventBridge event Step Functions sends when the execution `arn` ends with `status`."""
    return {
        "version": "0",
        "id": "6c0e5a5e-0000-0000-0000-000000000000",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-12-02T00:00:00Z",
        "region": REGION,
        "resources": [arn],
        "detail": {
            "executionArn": arn,
            "stateMachineArn": machine,
            "name": arn.rsplit(":", 1)[-1],
            "status": status,
            "startDate": 1,
            "stopDate": 2,
            "input": json.dumps(payload),
            "output": None,
        },
    }


def definition(name: str, edit=None) -> str:
    text = (ROOT / "statemachine" / name).read_text()
    text = text.replace("${LockFunctionArn}", FUNCTION)
    if edit is not None:
        text = json.dumps(edit(json.loads(text)))
    return text


class StepFunctions:
    """A Step Functions API (moto in-process or moto_server) with helpers for executions."""

    def __init__(self, client):
        self.sfn = client

    def create(self, name: str, file: str, edit=None) -> str:
        # Unique names: moto_server keeps its state machines for the whole run.
        name = f"{name}-{uuid.uuid4().hex[:8]}"
        return self.sfn.create_state_machine(name=name, definition=definition(file, edit), roleArn=ROLE)["stateMachineArn"]

    def start(self, machine: str, payload: dict) -> str:
        # A unique name: otherwise $$.Execution.Id ends in ":None" for every execution.
        name = f"run-{uuid.uuid4().hex[:12]}"
        return self.sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(payload))["executionArn"]

    def wait(self, arn: str, timeout: float = 90) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            desc = self.sfn.describe_execution(executionArn=arn)
            if desc["status"] != "RUNNING":
                return desc
            time.sleep(0.1)
        raise AssertionError(f"{arn} still RUNNING after {timeout} s")

    def history(self, arn: str) -> list:
        return self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]

    def history_of(self, described: dict) -> list:
        return self.history(described["executionArn"])


@pytest.fixture
def lockfn() -> LockFn:
    return LockFn()


@pytest.fixture
def sfn(monkeypatch):
    lambda_endpoint()
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # moto's interpreter builds its Lambda client here; send those calls to the emulator.
    monkeypatch.setattr(lambda_eval_utils, "boto_client_for", emulator_lambda_client)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = StepFunctions(boto3.client("stepfunctions", region_name=REGION))
        sfn.example = sfn.create("lock-example", "lock-example.asl.json")
        sfn.cleanup = sfn.create("lock-cleanup", "lock-cleanup.asl.json")
        yield sfn


@pytest.fixture
def sfn_server() -> StepFunctions:
    """moto_server's Step Functions (the stack's): its interpreter invokes lock-fn through the
    emulator, and lock-fn's SendTaskSuccess/SendTaskFailure go back to it over HTTP, so
    callback (waitForTaskToken) executions run end to end."""
    endpoint = os.environ.get("DLM_TEST_MOTO_ENDPOINT", "")
    assert endpoint.startswith("http://127.0.0.1:"), "no moto_server: run `bash scripts/test.sh`"
    client = boto3.client(
        "stepfunctions",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    return StepFunctions(client)


@pytest.fixture
def resource() -> str:
    return f"sfn/{uuid.uuid4().hex}"
