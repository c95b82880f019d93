"""The study: each chapter's experiments (chapters), the plan of a profile, experiment kinds and jobs,
the results store, the stored rows of a job, the Dask runner."""
from onepixel.study import experiments, probe_kinds  # noqa: F401  (register the experiment kinds)
