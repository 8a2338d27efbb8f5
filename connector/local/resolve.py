"""A synthesized CloudFormation template → the definitions the embedded runtime executes.

The runtime must run exactly what ``cdk deploy`` would deploy, so it starts from the
synthesized template rather than from a copy of the state machines. CloudFormation
intrinsics in it (``Ref``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Sub``...) are resolved
generically against *local* resources: each resource the template declares gets a
physical name and ARN in the emulated account, computed here once, and the runtime
creates the resources under exactly those names. An intrinsic or a reference this
module does not know how to resolve raises :class:`ResolveError` naming where it
occurs: silently leaving ``{"Ref": ...}`` inside a definition would only fail later,
inside the interpreter, with a far less readable error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.errors import ConnectorError

__all__ = [
    "LOCAL_ACCOUNT",
    "LOCAL_REGION",
    "LocalFunction",
    "LocalResource",
    "LocalStack",
    "LocalStateMachine",
    "ResolveError",
    "resolve_template",
]

LOCAL_ACCOUNT = "123456789012"
LOCAL_REGION = "us-east-1"
_PARTITION = "aws"
_NO_VALUE = object()


class ResolveError(ConnectorError):
    """The template holds something the local runtime cannot turn into a local value."""


@dataclass(frozen=True)
class LocalResource:
    """One template resource as it exists locally: its ``Ref`` value and attributes."""

    logical_id: str
    type: str
    name: str
    ref: str
    attributes: Mapping[str, str]
    properties: Mapping[str, Any] = field(default_factory=dict)
    """The resource's properties with every intrinsic resolved (filled in lazily)."""


@dataclass(frozen=True)
class LocalFunction:
    """A Lambda function: where its Python handler lives and what it runs with."""

    logical_id: str
    name: str
    arn: str
    handler: str
    environment: Mapping[str, str]
    timeout_seconds: int
    memory_mb: int
    role_arn: str


@dataclass(frozen=True)
class LocalStateMachine:
    """A state machine with an executable (fully resolved) ASL definition."""

    logical_id: str
    name: str
    arn: str
    definition: Mapping[str, Any]
    role_arn: str
    type: str


@dataclass(frozen=True)
class LocalStack:
    """Everything the runtime needs to create, by type, plus the resolved outputs."""

    account: str
    region: str
    resources: Mapping[str, LocalResource]
    functions: Mapping[str, LocalFunction]
    state_machines: Mapping[str, LocalStateMachine]
    outputs: Mapping[str, Any]

    def of_type(self, resource_type: str) -> list[LocalResource]:
        """Every resource of one CloudFormation type, in template order."""
        return [r for r in self.resources.values() if r.type == resource_type]

    def state_machine_for_output(self, output_name: str) -> LocalStateMachine:
        """The state machine whose ARN the stack output ``output_name`` holds."""
        arn = self.outputs.get(output_name)
        if arn is None:
            raise ResolveError(
                f"the template has no output {output_name!r}; outputs are: "
                f"{', '.join(sorted(self.outputs)) or 'none'}"
            )
        for machine in self.state_machines.values():
            if machine.arn == arn:
                return machine
        raise ResolveError(f"output {output_name!r} ({arn}) is not a state machine's ARN")


# --- physical names ---------------------------------------------------------------


def _slug(logical_id: str, *, limit: int, lower: bool = False) -> str:
    text = re.sub(r"[^A-Za-z0-9-]", "-", logical_id)[:limit]
    return text.lower() if lower else text


def _literal(properties: Mapping[str, Any], key: str) -> str | None:
    value = properties.get(key)
    return value if isinstance(value, str) else None


def _local_resource(
    logical_id: str, resource_type: str, properties: Mapping[str, Any], account: str, region: str
) -> LocalResource:
    """Physical name, ``Ref`` and ``Fn::GetAtt`` values, as CloudFormation would give them."""
    arn_base = f"arn:{_PARTITION}"

    def made(name: str, ref: str, **attributes: str) -> LocalResource:
        return LocalResource(logical_id, resource_type, name, ref, attributes)

    if resource_type == "AWS::Lambda::Function":
        name = _literal(properties, "FunctionName") or _slug(logical_id, limit=64)
        arn = f"{arn_base}:lambda:{region}:{account}:function:{name}"
        return made(name, name, Arn=arn)
    if resource_type == "AWS::S3::Bucket":
        name = _literal(properties, "BucketName") or _slug(logical_id, limit=63, lower=True)
        return made(
            name,
            name,
            Arn=f"{arn_base}:s3:::{name}",
            DomainName=f"{name}.s3.amazonaws.com",
            RegionalDomainName=f"{name}.s3.{region}.amazonaws.com",
        )
    if resource_type == "AWS::SNS::Topic":
        name = _literal(properties, "TopicName") or _slug(logical_id, limit=256)
        arn = f"{arn_base}:sns:{region}:{account}:{name}"
        return made(name, arn, TopicArn=arn, TopicName=name)
    if resource_type == "AWS::SQS::Queue":
        name = _literal(properties, "QueueName") or _slug(logical_id, limit=80)
        arn = f"{arn_base}:sqs:{region}:{account}:{name}"
        url = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
        return made(name, url, Arn=arn, QueueName=name, QueueUrl=url)
    if resource_type == "AWS::SecretsManager::Secret":
        name = _literal(properties, "Name") or _slug(logical_id, limit=256)
        arn = f"{arn_base}:secretsmanager:{region}:{account}:secret:{name}"
        return made(name, arn, Id=arn)
    if resource_type == "AWS::IAM::Role":
        name = _literal(properties, "RoleName") or _slug(logical_id, limit=64)
        return made(name, name, Arn=f"{arn_base}:iam::{account}:role/{name}", RoleId=name)
    if resource_type == "AWS::IAM::ManagedPolicy":
        name = _literal(properties, "ManagedPolicyName") or _slug(logical_id, limit=128)
        arn = f"{arn_base}:iam::{account}:policy/{name}"
        return made(name, arn, PolicyArn=arn)
    if resource_type == "AWS::StepFunctions::StateMachine":
        name = _literal(properties, "StateMachineName") or _slug(logical_id, limit=80)
        arn = f"{arn_base}:states:{region}:{account}:stateMachine:{name}"
        return made(name, arn, Arn=arn, Name=name)
    if resource_type == "AWS::Logs::LogGroup":
        name = _literal(properties, "LogGroupName") or f"/local/{logical_id}"
        return made(name, name, Arn=f"{arn_base}:logs:{region}:{account}:log-group:{name}:*")
    if resource_type == "AWS::KMS::Key":
        key_id = _slug(logical_id, limit=36, lower=True)
        return made(key_id, key_id, Arn=f"{arn_base}:kms:{region}:{account}:key/{key_id}")
    if resource_type in ("AWS::Events::Rule", "AWS::Scheduler::Schedule"):
        name = _literal(properties, "Name") or _slug(logical_id, limit=64)
        service = "events" if resource_type == "AWS::Events::Rule" else "scheduler"
        kind = "rule" if service == "events" else "schedule/default"
        return made(name, name, Arn=f"{arn_base}:{service}:{region}:{account}:{kind}/{name}")
    # Anything else may exist in the template (policies, custom resources...), but
    # referencing it from what the runtime executes is an error reported on use.
    return LocalResource(logical_id, resource_type, logical_id, "", {})


# --- intrinsics -------------------------------------------------------------------


class _Resolver:
    def __init__(
        self,
        template: Mapping[str, Any],
        resources: Mapping[str, LocalResource],
        account: str,
        region: str,
        stack_name: str,
    ) -> None:
        self.template = template
        self.resources = resources
        self.pseudo = {
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::Partition": _PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack_name,
            "AWS::StackId": (
                f"arn:{_PARTITION}:cloudformation:{region}:{account}:stack/{stack_name}/local"
            ),
        }
        self.functions: dict[str, Callable[[Any, str], Any]] = {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Join": self._join,
            "Fn::Sub": self._sub,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::If": self._if,
            "Fn::FindInMap": self._find_in_map,
            "Fn::Equals": self._equals,
            "Fn::Not": self._not,
            "Fn::And": lambda args, at: all(self.value(a, at) for a in args),
            "Fn::Or": lambda args, at: any(self.value(a, at) for a in args),
        }

    def value(self, node: Any, at: str) -> Any:
        if isinstance(node, list):
            items = [self.value(item, f"{at}[{i}]") for i, item in enumerate(node)]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key,) = node
            if key in self.functions:
                return self.functions[key](node[key], f"{at}.{key}")
            if key.startswith("Fn::"):
                raise ResolveError(
                    f"{at}: the local runtime cannot resolve {key}; "
                    "resolve it in the CDK app or teach connector.local.resolve about it"
                )
            if key == "Condition":
                return self._condition(node[key], at)
        resolved = {k: self.value(v, f"{at}.{k}") for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def text(self, node: Any, at: str) -> str:
        value = self.value(node, at)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ResolveError(f"{at}: expected a string, found {value!r}")
        return str(value)

    def _ref(self, name: Any, at: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.resources:
            resource = self.resources[name]
            if not resource.ref:
                raise ResolveError(
                    f"{at}: Ref to {name} ({resource.type}) has no local value; "
                    "the local runtime does not emulate that resource type"
                )
            return resource.ref
        parameter = self.template.get("Parameters", {}).get(name)
        if parameter is not None and "Default" in parameter:
            return parameter["Default"]
        raise ResolveError(f"{at}: Ref to {name!r}, which is no resource or defaulted parameter")

    def _get_att(self, args: Any, at: str) -> str:
        if isinstance(args, str):
            logical_id, _, attribute = args.partition(".")
        else:
            logical_id, attribute = args[0], self.text(args[1], at)
        resource = self.resources.get(logical_id)
        if resource is None:
            raise ResolveError(f"{at}: Fn::GetAtt of unknown resource {logical_id!r}")
        if attribute not in resource.attributes:
            raise ResolveError(
                f"{at}: Fn::GetAtt {logical_id}.{attribute} ({resource.type}) has no local "
                f"value; known attributes: {', '.join(resource.attributes) or 'none'}"
            )
        return resource.attributes[attribute]

    def _join(self, args: Any, at: str) -> str:
        separator, items = args
        return str(separator).join(self.text(item, at) for item in self.value(items, at))

    def _sub(self, args: Any, at: str) -> str:
        if isinstance(args, str):
            text, variables = args, {}
        else:
            text, variables = args[0], {k: self.text(v, at) for k, v in args[1].items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return variables[name]
            if "." in name:
                return self._get_att(name, at)
            return self.text({"Ref": name}, at)

        return re.sub(r"\$\{([^}]+)\}", substitute, text)

    def _select(self, args: Any, at: str) -> Any:
        index, items = args
        return self.value(items, at)[int(self.value(index, at))]

    def _split(self, args: Any, at: str) -> list[str]:
        separator, text = args
        return self.text(text, at).split(separator)

    def _find_in_map(self, args: Any, at: str) -> Any:
        name, first, second = (self.text(a, at) for a in args)
        try:
            return self.template["Mappings"][name][first][second]
        except KeyError as exc:
            raise ResolveError(f"{at}: Fn::FindInMap {name}/{first}/{second} not found") from exc

    def _equals(self, args: Any, at: str) -> bool:
        left, right = (self.value(a, at) for a in args)
        return bool(left == right)

    def _not(self, args: Any, at: str) -> bool:
        return not self.value(args[0], at)

    def _condition(self, name: str, at: str) -> bool:
        conditions = self.template.get("Conditions", {})
        if name not in conditions:
            raise ResolveError(f"{at}: unknown condition {name!r}")
        return bool(self.value(conditions[name], f"Conditions.{name}"))

    def _if(self, args: Any, at: str) -> Any:
        name, when_true, when_false = args
        chosen = when_true if self._condition(name, at) else when_false
        return self.value(chosen, at)


# --- the template -----------------------------------------------------------------


def resolve_template(
    template: Mapping[str, Any],
    *,
    account: str = LOCAL_ACCOUNT,
    region: str = LOCAL_REGION,
    stack_name: str = "ConnectorLocal",
) -> LocalStack:
    """Local names for every resource, and executable functions and state machines.

    Raises :class:`ResolveError` for an unsupported intrinsic, a reference to a
    resource type the runtime does not emulate, or a definition that is not JSON.
    """
    declared: Mapping[str, Any] = template.get("Resources", {})
    if not declared:
        raise ResolveError("the template declares no Resources")
    names = {
        logical_id: _local_resource(
            logical_id, spec.get("Type", ""), spec.get("Properties", {}), account, region
        )
        for logical_id, spec in declared.items()
    }
    resolver = _Resolver(template, names, account, region, stack_name)
    resources: dict[str, LocalResource] = {}
    functions: dict[str, LocalFunction] = {}
    machines: dict[str, LocalStateMachine] = {}
    for logical_id, spec in declared.items():
        local = names[logical_id]
        properties = spec.get("Properties", {})
        if local.type == "AWS::Lambda::Function":
            functions[logical_id] = _function(resolver, local, properties)
        elif local.type == "AWS::StepFunctions::StateMachine":
            machines[logical_id] = _state_machine(resolver, local, properties)
        resolved_properties = (
            resolver.value(properties, f"Resources.{logical_id}.Properties")
            if local.type in _CREATED_TYPES
            else {}
        )
        resources[logical_id] = LocalResource(
            local.logical_id,
            local.type,
            local.name,
            local.ref,
            local.attributes,
            resolved_properties,
        )
    outputs = {
        name: resolver.value(output.get("Value"), f"Outputs.{name}.Value")
        for name, output in template.get("Outputs", {}).items()
    }
    return LocalStack(account, region, resources, functions, machines, outputs)


# Types the runtime creates or emulates from their (resolved) properties; others keep
# none, so that an intrinsic the runtime has no use for cannot stop it.
_CREATED_TYPES = frozenset(
    {
        "AWS::S3::Bucket",
        "AWS::SNS::Topic",
        "AWS::SecretsManager::Secret",
        "AWS::SQS::Queue",
        "AWS::Scheduler::Schedule",
        "AWS::Events::Rule",
    }
)


def _function(
    resolver: _Resolver, local: LocalResource, properties: Mapping[str, Any]
) -> LocalFunction:
    at = f"Resources.{local.logical_id}.Properties"
    handler = resolver.text(properties.get("Handler"), f"{at}.Handler")
    variables = resolver.value(
        properties.get("Environment", {}).get("Variables", {}), f"{at}.Environment.Variables"
    )
    return LocalFunction(
        logical_id=local.logical_id,
        name=local.name,
        arn=local.attributes["Arn"],
        handler=handler,
        environment={k: str(v) for k, v in variables.items()},
        timeout_seconds=int(resolver.value(properties.get("Timeout", 3), f"{at}.Timeout")),
        memory_mb=int(resolver.value(properties.get("MemorySize", 128), f"{at}.MemorySize")),
        role_arn=resolver.text(properties.get("Role", "local-role"), f"{at}.Role"),
    )


def _state_machine(
    resolver: _Resolver, local: LocalResource, properties: Mapping[str, Any]
) -> LocalStateMachine:
    at = f"Resources.{local.logical_id}.Properties"
    if "DefinitionString" in properties:
        text = resolver.text(properties["DefinitionString"], f"{at}.DefinitionString")
    elif "Definition" in properties:
        text = json.dumps(resolver.value(properties["Definition"], f"{at}.Definition"))
    else:
        raise ResolveError(f"{at}: the state machine has no DefinitionString or Definition")
    substitutions = {
        key: resolver.text(value, f"{at}.DefinitionSubstitutions.{key}")
        for key, value in properties.get("DefinitionSubstitutions", {}).items()
    }
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", value)
    try:
        definition = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResolveError(f"{at}: the resolved definition is not JSON: {exc}") from exc
    return LocalStateMachine(
        logical_id=local.logical_id,
        name=local.name,
        arn=local.attributes["Arn"],
        definition=definition,
        role_arn=resolver.text(properties.get("RoleArn", "local-role"), f"{at}.RoleArn"),
        type=str(properties.get("StateMachineType", "STANDARD")),
    )
