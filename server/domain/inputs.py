"""What every input from outside must be, whichever door it came through.

REST bodies, page forms and socket payloads all pass through here, so a text that one of them
refuses the others refuse too, with the same code (`invalid_input`) and the same `fields`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)

NUL_MESSAGE = "must not contain NUL characters"


def nul_location(data: Any, root: str) -> str | None:
    """The dotted path of a key or string containing U+0000, or None. Iterative: JSON may be deep.

    PostgreSQL cannot store U+0000 in text while SQLite can; refusing it at the door keeps both
    backends, and every door, in agreement."""
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path or root
        elif isinstance(value, dict):
            for key, item in value.items():
                key = str(key)
                # Keys are echoed in the error: make them printable and encodable (no NUL, no lone surrogates).
                shown = key.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()
                child = f"{path}.{shown}" if path else shown
                if "\x00" in key:
                    return child
                stack.append((item, child))
        elif isinstance(value, (list, tuple)):
            stack.extend((item, f"{path}.{i}" if path else str(i)) for i, item in enumerate(value))
    return None


def invalid(exc: ValidationError, root: str) -> ValidationFailed:
    """One pydantic failure as `invalid_input`: `fields` maps each dotted location to its problem."""
    fields: dict[str, str] = {}
    for e in exc.errors():
        loc = ".".join(str(x) for x in e["loc"]) or root
        fields.setdefault(loc, e["msg"])
    first = next(iter(fields.items()))
    return ValidationFailed(f"{first[0]}: {first[1]}", fields=fields)


def parse(model: type[M], data: Any, root: str) -> M:
    """Validate an untrusted object (already decoded from JSON) into `model`, or raise `invalid_input`.

    `root` names the whole input in messages: "body" over HTTP, "payload" on the socket."""
    if not isinstance(data, dict):
        raise ValidationFailed(f"the {root} must be a JSON object", fields={root: "must be a JSON object"})
    nul_at = nul_location(data, root)
    if nul_at is not None:
        raise ValidationFailed(f"{nul_at}: {NUL_MESSAGE}", fields={nul_at: NUL_MESSAGE})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc, root) from None
