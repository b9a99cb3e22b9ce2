"""The one-line refusal a call gives (its ConfigError's text), for the study tests that pin them word for word."""
import pytest

from mainrun.errors import ConfigError


def message(call, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        call(*args, **kwargs)
    return str(caught.value)
