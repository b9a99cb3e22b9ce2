"""What the cells say, computed once: effects with Holm-adjusted intervals, the summary of a folder,
a sweep's decisions, speed-ups against reference budgets, and a ladder's predictors, their backtest
and the simulation of known truths that shows each interval's coverage."""
