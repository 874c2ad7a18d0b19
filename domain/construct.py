"""``built``: a pydantic model from trusted values, as ``model_construct`` builds it, without its per-call walk.

Why: a decision builds its answer, risk, reasons, bandit and task from values the engine
computed itself (no validation needed), about fifteen models per decision. pydantic's
``model_construct`` walks every field's aliases and defaults on each call (about 4 us for a
``Reason``, a sixth of the dunning run's decision); the contract's models have no aliases,
factories or post-init hooks, so a model is its ``__dict__`` (the field defaults overlaid by
the values given) and the set of names given. A model that has any of those is handed to
``model_construct`` itself, and so is a call that misses a required field, leaves out a field
whose default ``model_construct`` would copy (a list, a model), or names a field the model
does not have (``tests/domain/test_construct.py`` holds the two equal).

Example::

    reason = built(Reason, code="risk.high", text="High risk", source="rule", contribution=None)
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__


@dataclass(frozen=True)
class _Shape:
    """What ``built`` needs of a model class: its defaults in field order, the fields a call must give (the
    required ones and those whose default is copied per instance) and all field names."""

    template: dict[str, Any]
    required: frozenset[str]
    names: frozenset[str]


#: Defaults shared as they are (``model_construct`` copies any other default for each instance).
_ATOMS = (type(None), bool, int, float, str)


@cache
def _shape(cls: type[BaseModel]) -> _Shape | None:
    """The class's shape, or None where ``model_construct`` does more than fill defaults (aliases, default
    factories, extra fields kept, a root model, a post-init hook)."""
    fields = cls.__pydantic_fields__
    if cls.__pydantic_root_model__ or cls.__pydantic_post_init__ or cls.model_config.get("extra") == "allow" or any(
            f.alias is not None or f.validation_alias is not None or f.default_factory is not None
            for f in fields.values()):
        return None
    template = {name: None if f.is_required() else f.default for name, f in fields.items()}
    given = frozenset(n for n, f in fields.items() if f.is_required() or type(f.default) not in _ATOMS)
    return _Shape(template, given, frozenset(fields))


def built(cls: type[M], **values: Any) -> M:
    """``cls.model_construct(**values)``: the same instance (fields, defaults, fields set), made directly."""
    shape = _shape(cls)
    if shape is None or not shape.required <= values.keys() or not values.keys() <= shape.names:
        return cls.model_construct(**values)
    m = cls.__new__(cls)
    data = shape.template.copy()
    data.update(values)
    _set(m, "__dict__", data)
    _set(m, "__pydantic_fields_set__", set(values))
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m
