"""Errors a user can cause share one base (NextTermError); anything else is reported as a bug."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import tempfile

import pytest

import nextterm
from nextterm.cli import EXIT_BUG, main
from nextterm.errors import NextTermError


def _package_modules():
    for info in pkgutil.walk_packages(nextterm.__path__, prefix="nextterm."):
        if not info.name.endswith("__main__"):
            yield importlib.import_module(info.name)


def test_every_error_class_of_the_package_is_a_nextterm_error():
    classes = {
        cls
        for module in _package_modules()
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__.startswith("nextterm.") and issubclass(cls, ValueError)
    }
    assert len(classes) >= 20
    assert [cls.__qualname__ for cls in classes if not issubclass(cls, NextTermError)] == []


@pytest.mark.parametrize(
    "failure", [ValueError("shapes (3,) and (4,) not aligned"), KeyError("num_hidden_layers")]
)
def test_any_other_exception_is_reported_as_a_bug_with_its_traceback(
    monkeypatch, tmp_path, capsys, failure
):
    """A ValueError raised by numpy or torch is a bug, not the user's error: before, it printed as
    ``error: ...`` with exit 2 and no traceback."""
    import nextterm.predict

    def broken(*args, **kwargs):
        raise failure

    monkeypatch.setattr(nextterm.predict, "predict", broken)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["predict", "--no-model", "1,2,3"]) == EXIT_BUG
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "bug in nextterm" in lines[0] and type(failure).__name__ in lines[0]
    [written] = tmp_path.glob("nextterm-bug-*.txt")
    assert str(written) in lines[0]
    text = written.read_text()
    assert text.startswith("Traceback") and "in broken" in text
