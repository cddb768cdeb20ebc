"""template.yaml as CloudFormation reads it: the short-form tags, and the intrinsic functions
the template uses, evaluated with given parameter values and resource names."""

import re
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
NO_VALUE = object()


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads !Ref, !Sub and the other short forms as {"Ref": ...}, {"Sub": ...}, ..."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


_CloudFormationLoader.add_multi_constructor("!", _any_tag)


def load_template(path: Path = TEMPLATE) -> dict:
    return yaml.load(path.read_text(), Loader=_CloudFormationLoader)


class Stack:
    """The template deployed with `parameters` (defaults filled in), its resources named by
    `physical_ids` (what !Ref of each gives)."""

    def __init__(
        self, template: dict, parameters: dict[str, str], physical_ids: dict[str, str]
    ) -> None:
        self.template = template
        declared = template.get("Parameters", {})
        missing = [
            n for n, spec in declared.items() if "Default" not in spec and n not in parameters
        ]
        if missing:
            raise ValueError(f"parameters without a default need a value: {missing}")
        self.values: dict[str, Any] = {
            name: str(spec["Default"]) for name, spec in declared.items() if "Default" in spec
        }
        self.values |= parameters | physical_ids
        self.values |= {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}
        self.values |= {"AWS::Partition": "aws", "AWS::StackName": "sso-sync"}

    def condition(self, name: str) -> bool:
        return bool(self.evaluate(self.template["Conditions"][name]))

    def evaluate(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.evaluate(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((function, argument),) = node.items()
            if function in ("Ref", "Fn::Ref"):
                return NO_VALUE if argument == "AWS::NoValue" else self.values[argument]
            if function == "Sub":
                return self._sub(argument)
            if function == "If":
                name, yes, no = argument
                return self.evaluate(yes if self.condition(name) else no)
            if function == "Condition":
                return self.condition(argument)
            if function == "Equals":
                left, right = (self.evaluate(a) for a in argument)
                return str(left) == str(right)
            if function == "Not":
                return not self.evaluate(argument[0])
            if function == "And":
                return all(self.evaluate(a) for a in argument)
            if function == "Select":
                index, items = argument
                return self.evaluate(items)[int(index)]
            if function == "Split":
                separator, text = argument
                return str(self.evaluate(text)).split(separator)
            if function == "Join":
                separator, items = argument
                return separator.join(str(i) for i in self.evaluate(items))
        return {key: self.evaluate(value) for key, value in node.items()}

    def _sub(self, argument: Any) -> str:
        text, extra = (argument, {}) if isinstance(argument, str) else argument
        names = {**self.values, **{k: self.evaluate(v) for k, v in extra.items()}}
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(names[m.group(1)]), text)

    def function_environment(self, resource: str = "SyncFunction") -> dict[str, str]:
        variables = self.template["Resources"][resource]["Properties"]["Environment"]["Variables"]
        evaluated = {name: self.evaluate(value) for name, value in variables.items()}
        return {name: str(value) for name, value in evaluated.items() if value is not NO_VALUE}
