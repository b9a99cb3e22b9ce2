"""ablations/analysis/scaling.py: a ladder folder read back, or refused in one line."""
import json

import pytest

from ablations.analysis.scaling import read_ladder
from mainrun.errors import ConfigError


def test_an_unreadable_or_older_ladder_json_is_one_line_saying_what_to_do(tmp_path):
    with pytest.raises(ConfigError) as caught:
        read_ladder(tmp_path)
    assert str(caught.value) == f"{tmp_path / 'ladder.json'} cannot be read (FileNotFoundError)"
    (tmp_path / "ladder.json").write_text("{not json")
    with pytest.raises(ConfigError) as caught:
        read_ladder(tmp_path)
    assert str(caught.value) == f"{tmp_path / 'ladder.json'} cannot be read (JSONDecodeError)"
    older = f"{tmp_path / 'ladder.json'} was written by an older ladder; run its ladder command again to rewrite it"
    for spec in ({"rungs": []}, {"target_flops": 1e15}, {}):
        (tmp_path / "ladder.json").write_text(json.dumps(spec))
        with pytest.raises(ConfigError) as caught:
            read_ladder(tmp_path)
        assert str(caught.value) == older
