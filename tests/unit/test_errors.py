"""Every error code Heavylift reports is one class in ``heavylift.errors``, and the README
tells users what each means."""

from __future__ import annotations

from pathlib import Path

from heavylift import errors

README = (Path(__file__).parents[2] / "README.md").read_text()


def classes_by_code() -> dict[str, list[str]]:
    by_code: dict[str, list[str]] = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.HeavyliftError):
            by_code.setdefault(value.code, []).append(value.__name__)
    return by_code


def test_every_code_is_documented() -> None:
    missing = sorted(code for code in classes_by_code() if f"`{code}`" not in README)
    assert missing == []


def test_each_code_names_one_error() -> None:
    shared = {code: names for code, names in classes_by_code().items() if len(names) > 1}
    # The base classes carry a code only as a default for their subclasses.
    assert shared == {"internal_error": ["HeavyliftError", "PermanentError", "InternalError"]}
