"""Schemathesis against the admin API's own OpenAPI document: no input answers 500, and
every answer is JSON or problem JSON with a status the document lists for its operation,
and a body that status's schema allows (test_api_answers.py drives each success answer).

Bounded and derandomized: a few generated requests per operation, valid and invalid by the
document, the same ones on every run. Requests go over the real admin socket of a gateway
running in this test's process, so hypercorn and every middleware are on the path.
Hypothesis runs in a worker thread; each case is sent from the trio loop.
"""

from __future__ import annotations

import schemathesis
import trio
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import TEST_TIMEOUT
from tests.gateway.seed import niu_credentials

EXAMPLES = 5  # per operation and mode: a smoke run; deep runs are for the schemathesis CLI
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
ENDLESS = {"/events"}  # a live stream answers forever; its bad inputs are in test_api_bad_input.py


def explore(operation, mode, send) -> None:
    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        case.validate_response(send(case), checks=CHECKS)

    check()


async def test_no_input_answers_500_or_off_the_document(api):
    # Something to find: a credentials row (lists, PATCH, DELETE meet a real one now and then).
    assert (await api.post("/credentials", json=niu_credentials())).status_code == 201
    schema = schemathesis.openapi.from_dict((await api.get("/openapi.json")).json())

    async def request(case):
        arguments = case.as_transport_kwargs(base_url="http://localhost")
        if "data" in arguments and not isinstance(arguments["data"], dict):  # requests' name for a raw body
            arguments["content"] = arguments.pop("data")  # (a dict is a form, as httpx's data= takes it)
        arguments.pop("cookies", None)
        response = await api.request(**arguments)
        await response.aread()
        return response

    def send(case):
        return trio.from_thread.run(request, case)

    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.path not in ENDLESS]
    assert len(operations) >= 20  # the document lists the API, not a stub
    with trio.fail_after(TEST_TIMEOUT * 2):
        for operation in operations:
            await trio.to_thread.run_sync(explore, operation, schemathesis.GenerationMode.POSITIVE, send)
            if operation.query or operation.body:  # any string is a path parameter: nothing to get wrong
                await trio.to_thread.run_sync(explore, operation, schemathesis.GenerationMode.NEGATIVE, send)
