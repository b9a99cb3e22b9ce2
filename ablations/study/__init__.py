"""What to train: the experiment space (axes, grids, fractional designs), a study as data (flags, a
TOML file or Python), the tuning of a nuisance setting per variant, and a ladder's path to a target."""
