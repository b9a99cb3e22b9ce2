"""ablations: train a grid of component variants over seeds, keep every finished cell, and report
which component mattered, by how much, and whether that is beyond seed noise.

    python -m ablations.run --grid full --seeds 3      # train (resumable), then say what mattered
    python -m ablations.report runs/full-1a2b3c4d      # re-render the reports
    from ablations import Study, run_study             # the same from Python
"""
from .api import Outcome, run_study
from .study.study import Study

__all__ = ["Outcome", "Study", "run_study"]
