"""Training it: the plans a study makes (folders of phases of cells), the one runner that trains any
plan, the backends cells run on (a local pool of worker programs, submitit and Slurm), the cell
itself, and the results store every finished cell commits to."""
