"""CloudFormation templates written in YAML, read with their short forms (!Ref, !Sub ...) as
the long forms ({"Ref": ...}, {"Fn::Sub": ...}) CloudFormation also takes in JSON."""

from typing import Any

import yaml


class _TemplateLoader(yaml.SafeLoader):
    """A SafeLoader that also knows CloudFormation's short forms."""


def _short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_TemplateLoader.add_multi_constructor("!", _short_form)


def read_template(text: str) -> Any:
    """The template's document; yaml.YAMLError if it is not YAML (JSON is YAML)."""
    return yaml.load(text, Loader=_TemplateLoader)  # a SafeLoader
