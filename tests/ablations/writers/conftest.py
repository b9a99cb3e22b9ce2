import builtins
import sys

import pytest


@pytest.fixture
def without_matplotlib(monkeypatch):
    """matplotlib not installed, as a bare environment has it: its import fails."""
    real = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "matplotlib", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
