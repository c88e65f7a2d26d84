"""Model functions (numpyro) and prior specifications.

Import from the modules: :mod:`sitefx.models.priors` (prior specs, pure Python),
:mod:`sitefx.models.hierarchical` (the numpyro models) and :mod:`sitefx.models.collapsed`
(the collapsed likelihood of individual records). The package itself imports nothing, so
reading a prior never loads numpyro or JAX.

Default priors are chosen per model family: see :func:`sitefx.families.default_priors`.
"""
