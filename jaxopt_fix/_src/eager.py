"""An un-jitted ``update`` as one compiled call: eager use at jit speed, with jit's roundings."""

from __future__ import annotations

from typing import TypeVar

import jax
import optax

from jaxopt_fix._src import leafwise

_Tx = TypeVar("_Tx", optax.GradientTransformation, optax.GradientTransformationExtraArgs)


def compiled_when_eager(tx: _Tx) -> _Tx:
  """``tx`` whose ``update``, called outside any trace, runs as one jitted call.

  Called eagerly, an optax update dispatches every operation of every leaf on its own (tens
  of microseconds each), and rounds each one on its own: XLA's fused multiply-adds, which
  torch's ``lerp_`` and ``addcmul_`` also use, exist only in compiled code. Here the first
  eager call compiles the whole update for its tree (once per tree structure, shapes and
  dtypes; ``*_test.py::test_eager_update_compiles_nothing_after_the_first``) and every later
  call is one dispatch computing exactly what ``jax.jit(tx.update)`` computes. Inside a trace
  (the user's ``jit``, ``scan``, ``grad``, ``vmap``) the update is called as it is.
  """
  update = tx.update
  if getattr(update, "compiled_when_eager", False):
    return tx
  compiled = jax.jit(update)

  def update_fn(updates, state, params=None, **extra_args):
    if leafwise.any_traced(updates, state, params, extra_args):
      return update(updates, state, params, **extra_args)
    return compiled(updates, state, params, **extra_args)

  update_fn.__doc__ = update.__doc__
  update_fn.compiled_when_eager = True  # pyright: ignore[reportFunctionMemberAccess]
  return tx._replace(update=update_fn)
