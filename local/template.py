"""Reading template.yaml — the one source of truth — to build the local stack: tables, the state
machine definition with its substitutions, function handlers and their environment."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "oms-local"


class _Tag:
    """A CloudFormation intrinsic (!Ref, !Sub, !GetAtt …) kept as data until resolved."""

    def __init__(self, tag: str, value: Any) -> None:
        self.tag, self.value = tag, value


class _Loader(yaml.SafeLoader):
    pass


def _construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> _Tag:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return _Tag(suffix, value)


_Loader.add_multi_constructor("!", _construct)


@dataclass
class Function:
    logical_id: str
    name: str
    code_dir: Path
    handler: str
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.name}"


class Template:
    def __init__(self, path: Path = TEMPLATE, stack: str = STACK) -> None:
        self.doc = yaml.load(path.read_text(), Loader=_Loader)
        self.stack = stack
        self.resources: dict[str, dict[str, Any]] = self.doc["Resources"]
        self.parameters = {k: str(v.get("Default", "")) for k, v in self.doc.get("Parameters", {}).items()}

    # --- names the local stack gives to resources CloudFormation would name ---------------
    def physical_name(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        kind, props = resource["Type"], resource.get("Properties", {})
        if "Name" in props and kind in ("AWS::Serverless::StateMachine", "AWS::SecretsManager::Secret"):
            return str(self.resolve(props["Name"]))
        return f"{self.stack}-{logical_id}"

    def ref(self, logical_id: str) -> str:
        if logical_id in self.parameters:
            return self.parameters[logical_id]
        pseudo = {
            "AWS::StackName": self.stack,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
        }
        if logical_id in pseudo:
            return pseudo[logical_id]
        kind = self.resources[logical_id]["Type"]
        name = self.physical_name(logical_id)
        if kind == "AWS::Serverless::StateMachine":
            return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
        if kind == "AWS::SecretsManager::Secret":
            return name  # a name works wherever the ARN does for GetSecretValue
        return name

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind = self.resources[logical_id]["Type"]
        name = self.physical_name(logical_id)
        if kind == "AWS::Serverless::Function" and attribute == "Arn":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        if attribute == "Name":
            return name
        if attribute == "Arn":
            return self.ref(logical_id)
        raise KeyError(f"{logical_id}.{attribute}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, _Tag):
            if value.tag == "Ref":
                return self.ref(value.value)
            if value.tag == "GetAtt":
                logical, attribute = value.value.split(".", 1) if isinstance(value.value, str) else value.value
                return self.get_att(logical, attribute)
            if value.tag == "Sub":
                text = value.value if isinstance(value.value, str) else value.value[0]
                out, rest = "", text
                while "${" in rest:
                    before, _, tail = rest.partition("${")
                    key, _, rest = tail.partition("}")
                    out += before + (
                        self.get_att(*key.split(".", 1))
                        if "." in key and not key.startswith("AWS::")
                        else self.ref(key)
                    )
                return out + rest
            raise ValueError(f"unsupported intrinsic !{value.tag}")
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == kind}

    # --- what the local stack builds --------------------------------------------------------
    def tables(self) -> list[dict[str, Any]]:
        """CreateTable arguments for every AWS::DynamoDB::Table."""
        out = []
        for logical_id, resource in self.of_type("AWS::DynamoDB::Table").items():
            props = resource["Properties"]
            args: dict[str, Any] = {
                "TableName": self.physical_name(logical_id),
                "AttributeDefinitions": props["AttributeDefinitions"],
                "KeySchema": props["KeySchema"],
                "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
            }
            if props.get("GlobalSecondaryIndexes"):
                args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
            out.append(args)
        return out

    def global_environment(self) -> dict[str, str]:
        env = self.doc.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        return {k: str(self.resolve(v)) for k, v in env.items()}

    def functions(self) -> dict[str, Function]:
        """Every function by its physical name, with its merged environment."""
        base = self.global_environment()
        out = {}
        for logical_id, resource in self.of_type("AWS::Serverless::Function").items():
            props = resource["Properties"]
            env = props.get("Environment", {}).get("Variables", {})
            handler = props.get("Handler") or self.doc["Globals"]["Function"]["Handler"]
            fn = Function(
                logical_id=logical_id,
                name=self.physical_name(logical_id),
                code_dir=ROOT / props["CodeUri"],
                handler=handler,
                environment={**base, **{k: str(self.resolve(v)) for k, v in env.items()}},
            )
            out[fn.name] = fn
        return out

    def process_environment(self) -> dict[str, str]:
        """Every function's environment merged: the local stack hosts them all in one process."""
        merged: dict[str, str] = {}
        for function in self.functions().values():
            merged.update(function.environment)
        return merged

    def state_machine(self, logical_id: str = "ProvisionStateMachine") -> tuple[str, str]:
        """(name, definition JSON with DefinitionSubstitutions applied)."""
        props = self.resources[logical_id]["Properties"]
        definition = (ROOT / props["DefinitionUri"]).read_text()
        for key, value in self.resolve(props.get("DefinitionSubstitutions", {})).items():
            definition = definition.replace("${" + key + "}", str(value))
        json.loads(definition)  # fail early on a broken substitution
        return self.physical_name(logical_id), definition

    def secrets(self) -> list[str]:
        return [self.physical_name(k) for k in self.of_type("AWS::SecretsManager::Secret")]
