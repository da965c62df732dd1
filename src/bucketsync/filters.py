"""Include and exclude patterns, as `aws s3 sync` applies them.

Every path is included to start with; then each pattern that matches the
relative path includes or excludes it, the later pattern winning. `*` matches
across '/' as well (fnmatch semantics), as in the aws cli.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

Rule = tuple[Literal["include", "exclude"], str]


@dataclass(frozen=True)
class Filters:
    rules: tuple[Rule, ...] = ()

    @classmethod
    def build(
        cls,
        include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
        rules: tuple[Rule, ...] = (),
    ) -> Filters:
        """From ordered rules, or from include and exclude lists (excludes first)."""
        if rules:
            return cls(rules)
        ordered: list[Rule] = [("exclude", p) for p in exclude]
        ordered += [("include", p) for p in include]
        return cls(tuple(ordered))

    def accepts(self, rel: str) -> bool:
        included = True
        for kind, pattern in self.rules:
            if fnmatchcase(rel, pattern):
                included = kind == "include"
        return included

    def __bool__(self) -> bool:
        return bool(self.rules)
