"""The state machine and the handlers agree: every Task sends exactly the payload its function's
sample event (events/<name>.json) has, and every `next` a step can return has a Choice branch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local.template import ROOT, Template

ASL = json.loads((ROOT / "statemachine" / "provision.asl.json").read_text())


def tasks(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, state in states.items():
        if state["Type"] == "Task":
            found[name] = state
        if state["Type"] == "Map":
            found.update(tasks(state["ItemProcessor"]["States"]))
    return found


def function_dir(substitution: str) -> str:
    """${LaunchFunctionArn} → the CodeUri folder of LaunchFunction in template.yaml."""
    logical_id = substitution.removeprefix("${").removesuffix("Arn}")
    return Path(Template().resources[logical_id]["Properties"]["CodeUri"]).name


@pytest.mark.parametrize("state", sorted(tasks(ASL["States"])))
def test_each_task_sends_the_shape_of_its_sample_event(state):
    # GIVEN a Task of the state machine and the sample event of the function it calls
    parameters = tasks(ASL["States"])[state]["Parameters"]
    folder = function_dir(parameters["FunctionName"])
    sample = json.loads((ROOT / "events" / f"{folder}.json").read_text())
    # THEN the payload keys match, and the handler exists where the template says
    assert {k.removesuffix(".$") for k in parameters["Payload"]} == set(sample)
    assert (ROOT / "functions" / folder / "app.py").is_file()


def test_every_next_step_has_a_branch():
    from openmultistack.provisioning import DONE, POLL, RELAUNCH, WAIT

    choice = ASL["States"]["Launch every instance"]["ItemProcessor"]["States"]["What next?"]
    branches = {c["StringEquals"] for c in choice["Choices"]}
    assert branches == {POLL, WAIT, RELAUNCH}
    assert DONE not in branches and choice["Default"] == "Instance settled"


def test_every_task_retries_and_catches():
    for name, state in tasks(ASL["States"]).items():
        assert state.get("Retry"), f"{name} has no Retry"
        assert state.get("Catch"), f"{name} has no Catch"
