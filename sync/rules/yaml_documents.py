"""YAML definitions validated by a pydantic model, with errors that name the file, the line
and the key path, counting items from 1 as plans and messages do:
`rules.yaml:12: sync.groups item 1.emial: unknown key (did you mean email?)`."""

import difflib
import types
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from sync.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)
MAX_DOCUMENT_BYTES = 1_000_000
MAX_DEPTH = 64
Problem = tuple[tuple, str]
"""(key path, what is wrong there)."""


def parse_document(
    text: str,
    model: type[Model],
    source: str,
    kind: str = "rules file",
    context: dict[str, Any] | None = None,
    cross_checks: Callable[[Model], list[Problem]] | None = None,
) -> Model:
    """Parse and validate; any problem raises ConfigError listing each with its line."""
    if len(text.encode()) > MAX_DOCUMENT_BYTES:
        raise ConfigError(f"{source}: the {kind} is over {MAX_DOCUMENT_BYTES:,} bytes")
    try:
        _check_structure(text, source)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.reader.ReaderError as error:
        line = text[: error.position].count("\n") + 1
        raise ConfigError(
            f"{source}:{line}: not valid YAML: character {error.character!r} is not allowed"
        ) from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{source}{where}: not valid YAML: {_plain(problem)}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the {kind} must be a mapping with 'version' at the top")
    lines = _line_numbers(root)
    if duplicates := _duplicate_keys(root):
        raise ConfigError(_describe_problems(duplicates, lines, source, kind))
    try:
        document = model.model_validate(data, context=context)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            path = _path_in_document(tuple(item["loc"]), data)
            problems.append((path, _message(item, keys_at(model, path[:-1]))))
        raise ConfigError(_describe_problems(problems, lines, source, kind)) from error
    if cross_checks is not None and (problems := cross_checks(document)):
        raise ConfigError(_describe_problems(problems, lines, source, kind))
    return document


def _check_structure(text: str, source: str) -> None:
    """Refuse anchors and aliases (a few lines of them expand to billions of values) and
    nesting deeper than any definition needs (the YAML composer recurses), before either
    can cost anything: YAML's event stream is read without building the document."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise ConfigError(f"{source}:{line}: YAML anchors and aliases (&, *) are not allowed")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(f"{source}:{line}: nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def line_numbers(text: str) -> dict[tuple, int]:
    """Key path -> 1-based line, of a document parse_document accepted."""
    return _line_numbers(yaml.compose(text, Loader=yaml.SafeLoader))


def _describe_problems(
    problems: list[Problem], lines: dict[tuple, int], source: str, kind: str
) -> str:
    described = [
        f"{source}:{_nearest_line(lines, path)}: {_key_path(path)}: {message}"
        for path, message in problems
    ]
    return f"invalid {kind}:\n  " + "\n  ".join(described)


YAML_PROBLEMS = {
    "expected <block end>, but found '<block mapping start>'": "indented deeper than the "
    "keys beside it",
    "mapping values are not allowed here": "a ':' where a value was expected (quote a value "
    "holding ': ', or check the indentation)",
    "could not find expected ':'": "a key without its ':'",
    "found character '\\t' that cannot start any token": "a tab: indent with spaces",
    "found undefined alias": "an alias (*name) with no anchor",
}
"""PyYAML's words for the mistakes people make, in plain words (the parser's follow)."""


def _plain(problem: str) -> str:
    for start, plain in YAML_PROBLEMS.items():
        if problem.startswith(start):
            return f"{plain} ({problem})"
    return problem


def _key_path(path: tuple) -> str:
    """`sync.groups item 1.email`, items counted from 1; an assignment rule by the number
    plans and messages give it, `assignments rule 2.groups item 1`."""
    if len(path) >= 2 and path[0] == "assignments" and isinstance(path[1], int):
        head, path = f"assignments rule {path[1] + 1}", path[2:]
    else:
        head = ""
    for part in path:
        if isinstance(part, int):
            head += f" item {part + 1}"
        else:
            head += f".{part}" if head else str(part)
    return head or "(top level)"


def _message(item: dict, keys: frozenset[str]) -> str:
    message = item["msg"].removeprefix("Value error, ")
    if item["type"] == "extra_forbidden":
        key = str(item["loc"][-1])
        close = difflib.get_close_matches(key, sorted(keys), n=1, cutoff=0.6)
        return "unknown key" + (f" (did you mean {close[0]}?)" if close else "")
    return message


def keys_at(model: type[BaseModel], path: tuple) -> frozenset[str]:
    """The keys the model accepts at `path` of a document (none where it takes any)."""
    annotation: Any = model
    for step in (*path, None):
        annotation = _unwrapped(annotation, step)
        if step is None:
            break
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(step) or next(
                (f for f in annotation.model_fields.values() if f.alias == step), None
            )
            if field is None:
                return frozenset()
            annotation = field.annotation
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        elif get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        else:
            return frozenset()
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return frozenset(f.alias or name for name, f in annotation.model_fields.items())
    return frozenset()


def _unwrapped(annotation: Any, step: object) -> Any:
    """The arm of an optional, annotated or union type that a key (str) or an item (int)
    or a mapping (None: the end of the path) goes through."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        arms = [_unwrapped(arm, step) for arm in get_args(annotation) if arm is not type(None)]
        wanted = list if isinstance(step, int) else dict
        for arm in arms:
            if isinstance(arm, type) and issubclass(arm, BaseModel) and not isinstance(step, int):
                return arm
            if get_origin(arm) is wanted:
                return arm
        return arms[0] if arms else annotation
    return annotation


def _path_in_document(location: tuple, data: object) -> tuple:
    """The part of a pydantic error location that names keys and indexes of the document.

    pydantic appends union branch names ('int', 'constrained-str') that the file does not have.
    """
    path: list = []
    node = data
    for step in location:
        if isinstance(node, dict):
            path.append(step)
            if step not in node:
                break
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            path.append(step)
            node = node[step]
        else:
            break
    return tuple(path)


def _line_numbers(node: yaml.Node | None, path: tuple = ()) -> dict[tuple, int]:
    """Map each key path of a composed YAML document to its 1-based line."""
    if node is None:
        return {}
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            lines |= _line_numbers(value, child)
            lines[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            lines |= _line_numbers(value, (*path, index))
    return lines


def _duplicate_keys(node: yaml.Node | None, path: tuple = ()) -> list[Problem]:
    """YAML keeps the last of two equal keys without a word; a definition must not."""
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                problems.append(((*path, key.value), "defined twice"))
            seen.add(key.value)
            problems += _duplicate_keys(value, (*path, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            problems += _duplicate_keys(value, (*path, index))
    return problems


def _nearest_line(lines: dict[tuple, int], path: tuple) -> int:
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path, 1)
