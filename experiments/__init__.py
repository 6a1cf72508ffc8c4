"""Experiments that exercise :mod:`jaxopt_fix` on published benchmark problems."""
