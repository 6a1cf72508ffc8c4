"""Tests for :mod:`jaxopt_fix._src.leafwise`."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_fix
from jaxopt_fix import torch_optim
from jaxopt_fix._src import leafwise
from jaxopt_fix._src import moments

# Six leaves of three kinds, the shape of a small model's tree.
_SHAPES = {"w1": (8, 4), "b1": (4,), "w2": (8, 4), "b2": (4,), "w3": (4, 3), "b3": (4,)}


def _tree(dtype=jnp.float32, seed=0):
  key = jax.random.key(seed)
  return {
    name: jax.random.normal(jax.random.fold_in(key, i), shape, dtype)
    for i, (name, shape) in enumerate(_SHAPES.items())
  }


def test_the_function_is_traced_once_per_kind_of_leaf():
  traces = []

  def fn(x, y):
    traces.append((x.shape, x.dtype, y is None))
    return x * 3.0 + 1.0

  tree = {**_tree(), "half": jnp.ones((4,), jnp.bfloat16)}
  jax.jit(lambda t: leafwise.map(fn, t, t))(tree)
  assert sorted(map(str, traces)) == sorted(
    map(str, {(v.shape, v.dtype, False) for v in tree.values()})
  )
  assert len(traces) == 4  # (8, 4), (4,), (4, 3) in float32 and (4,) in bfloat16


def test_none_leaves_stay_none_and_are_passed_to_the_function():
  tree = {"a": jnp.ones(2), "masked": None}
  out = jax.jit(
    lambda t: leafwise.map(lambda x: None if x is None else x + 1, t, is_leaf=lambda x: x is None)
  )(tree)
  assert out["masked"] is None
  np.testing.assert_array_equal(out["a"], [2.0, 2.0])


def test_values_equal_jax_tree_map_bit_for_bit():
  # A product and a sum XLA contracts into a fused multiply-add, and a quotient: what the
  # optimizers compute, with the same roundings either way.
  def fn(x, y):
    return (x * 1.1 - y) / (jnp.sqrt(jnp.abs(y)) + 1e-8)

  a, b = _tree(seed=1), _tree(seed=2)
  mapped = jax.jit(lambda a, b: leafwise.map(fn, a, b))(a, b)
  reference = jax.jit(lambda a, b: jax.tree.map(fn, a, b))(a, b)
  for name in a:
    assert mapped[name].tobytes() == reference[name].tobytes(), name


def test_in_sequence_gives_the_values_of_map_with_each_kind_of_leaf_traced_once():
  traces = []

  def fn(x, y):
    traces.append(x.shape)
    return x * 1.1 - y, jnp.sum(x * y)

  a, b = _tree(seed=5), _tree(seed=6)
  in_sequence = jax.jit(lambda a, b: leafwise.map_in_sequence(fn, a, b))(a, b)
  assert len(traces) == 3
  reference = jax.jit(lambda a, b: jax.tree.map(fn, a, b))(a, b)
  for name in a:
    for ours, theirs in zip(in_sequence[name], reference[name], strict=True):
      assert ours.tobytes() == theirs.tobytes(), name


@pytest.mark.parametrize(
  "make_tx",
  [
    lambda: jaxopt_fix.scale_by_amsgrad(),
    lambda: jaxopt_fix.scale_by_yogi(),
    lambda: torch_optim.scale_by_torch_adam(),
    lambda: torch_optim.scale_by_torch_adafactor(),
  ],
  ids=["amsgrad", "yogi", "torch_adam", "torch_adafactor"],
)
def test_an_eager_building_block_compiles_nothing_after_its_first_call(make_tx, compilations):
  # Called outside any trace, the maps are jax.tree.map: a fresh jax.jit per call would
  # compile every per-leaf function at every step.
  tx, params = make_tx(), _tree()
  state = tx.init(params)
  _, state = tx.update(params, state, params)
  compilations.clear()
  _, state = tx.update(params, state, params)
  assert compilations == []


def test_an_update_traces_its_arithmetic_once_per_leaf_shape(monkeypatch):
  calls = []
  lerp = moments.lerp

  def counted(start, end, weight):
    calls.append(start.shape)
    return lerp(start, end, weight)

  monkeypatch.setattr(moments, "lerp", counted)
  tx = torch_optim.adam(1e-3)
  params = _tree()
  jax.jit(tx.update)(params, tx.init(params), params)
  assert sorted(calls) == sorted({s for s in _SHAPES.values()})  # 3 kinds, not 6 leaves


def _optimized_hlo(tx, params, grads) -> list[str]:
  """The compiled step's instructions, without names and source locations, sorted."""

  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  text = jax.jit(step).lower(params, tx.init(params), grads).compile().as_text()
  lines = [
    re.sub(r",? metadata=\{[^}]*\}", "", line) for line in text.splitlines() if " = " in line
  ]
  return sorted(re.sub(r"%[\w.-]+", "%x", line) for line in lines)


@pytest.mark.parametrize(
  "make_tx",
  [
    lambda: torch_optim.adamw(1e-3),
    lambda: jaxopt_fix.amsgrad(1e-3, variant="torch"),
    lambda: jaxopt_fix.yogi(1e-3),
    lambda: torch_optim.nadam(),
    lambda: torch_optim.rprop(),
    lambda: torch_optim.sgd(1e-2, momentum=0.9),
  ],
  ids=["adamw", "amsgrad", "yogi", "nadam", "rprop", "sgd"],
)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["float32", "bfloat16"])
def test_the_compiled_program_is_the_one_jax_tree_map_gives(monkeypatch, make_tx, dtype):
  params, grads = _tree(dtype, seed=3), _tree(dtype, seed=4)
  ours = _optimized_hlo(make_tx(), params, grads)
  monkeypatch.setattr(leafwise, "map", jax.tree.map)
  assert ours == _optimized_hlo(make_tx(), params, grads)
