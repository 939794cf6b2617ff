"""YAML a user wrote (rpbuild.yaml, a matrix file): plain data, and no aliases.

Neither file needs aliases, and nested ones multiply a small file into billions of
values (the "billion laughs"), so the first ``*name`` is a parse error at its line.
"""

from __future__ import annotations

from typing import Any

import yaml


class Number(float):
    """A float as the user wrote it: ``python: 3.10`` loads as 3.1 but keeps "3.10", so
    the hint to quote it shows the version they meant."""

    text: str


def _number(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Number:
    number = Number(loader.construct_yaml_float(node))
    number.text = node.value
    return number


class _Loader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None,
                None,
                "aliases (*name) are not allowed here: write the value out",
                self.peek_event().start_mark,  # type: ignore[no-untyped-call]
            )
        return super().compose_node(parent, index)


_Loader.add_constructor("tag:yaml.org,2002:float", _number)


def load(text: str) -> Any:
    """``yaml.safe_load`` without aliases; raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_Loader)
