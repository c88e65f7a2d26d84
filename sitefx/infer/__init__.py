"""Inference: NUTS (:mod:`~sitefx.infer.nuts`), the exact method (:mod:`~sitefx.infer.exact`).

Also the quadrature it is built on (:mod:`~sitefx.infer.quadrature`), draws of site effects
from sufficient statistics (:mod:`~sitefx.infer.sufficient`), historical priors
(:mod:`~sitefx.infer.borrowing`) and diagnostics (:mod:`~sitefx.infer.diagnostics`). The
package itself imports nothing, so the exact method runs without JAX or numpyro.
"""
