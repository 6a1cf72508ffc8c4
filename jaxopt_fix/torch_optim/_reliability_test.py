"""What every twin refuses, and where every twin must stay right: driven from ``TWINS``.

- params: integer, complex and torch-tensor leaves are refused at ``init``, naming the leaf;
  an empty tree is a no-op;
- arguments: each is type-checked against its annotation and default (strings, lists,
  complex numbers, bools for numbers, numbers for bools, tuples of the wrong length), and
  non-finite numbers are refused, at construction;
- the saturating count: ten steps from count 2**31 - 3 stay finite and end saturated;
- ``jax.grad`` through ten updates agrees with central finite differences;
- a float16 ``eps`` that rounds to 0 warns at ``init``.
"""

import functools
import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_fix
from jaxopt_fix import torch_optim

TWINS = {twin.name: twin for twin in torch_optim.TWINS.values()}
NAMES = sorted(TWINS)
# Away from torch's defaults: L-BFGS supports max_iter=1 only (and a short history is cheaper).
_KWARGS = {"lbfgs": {"max_iter": 1, "history_size": 4}}
_INT_MAX = np.iinfo(np.int32).max
_COUNTERS = {"step", "count", "n_iter", "func_evals"}


def _twin(name: str, **kwargs) -> optax.GradientTransformationExtraArgs:
  return TWINS[name].factory(**{**_KWARGS.get(name, {}), **kwargs})


def _numeric_arguments(name: str) -> list[str]:
  """The arguments whose default is a number (not a bool)."""
  return [
    p.name
    for p in inspect.signature(TWINS[name].factory).parameters.values()
    if isinstance(p.default, int | float) and not isinstance(p.default, bool)
  ]


def _annotation(name: str, argument: str) -> str:
  return str(inspect.signature(TWINS[name].factory).parameters[argument].annotation)


def _arguments_of_kind(name: str, kind: type) -> list[str]:
  return [
    p.name
    for p in inspect.signature(TWINS[name].factory).parameters.values()
    if isinstance(p.default, kind)
  ]


# --- params -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [jnp.int32, jnp.complex64])
def test_integer_and_complex_params_are_refused_at_init_naming_the_leaf(name, dtype):
  params = {"fine": jnp.ones((2, 3)), "bad": jnp.ones((2, 3), dtype)}
  with pytest.raises(TypeError, match=rf"torch_optim\.{name}.*\['bad'\].*{jnp.dtype(dtype)}"):
    _twin(name).init(params)


@pytest.mark.parametrize("name", NAMES)
def test_torch_tensor_params_are_refused_at_init_naming_the_leaf(name):
  torch = pytest.importorskip("torch")
  with pytest.raises(TypeError, match=r"\['w'\] is a Tensor; convert it with jnp.asarray"):
    _twin(name).init({"w": torch.ones(2, 3)})


@pytest.mark.parametrize("name", NAMES)
def test_an_empty_params_tree_is_a_no_op(name):
  tx = _twin(name)
  state = tx.init({})
  updates, _ = tx.update({}, state, {})
  assert updates == {}


# --- arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", ["0.1", [0.1, 0.2], [0.1], 0.1j, True, None, np.ones(2)])
def test_numbers_of_the_wrong_type_are_refused_naming_the_argument(name, bad):
  for argument in _numeric_arguments(name):
    if bad is None and argument == "max_eval":
      continue
    with pytest.raises(TypeError, match=rf"torch_optim\.{name}: {argument} must be"):
      _twin(name, **{argument: bad})


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_numbers_are_refused(name, bad):
  """torch gives inf or NaN where the twin's arithmetic differs (AdamW's ``weight_decay=inf``:
  torch inf, the twin NaN): refused instead, so no result differs from torch silently."""
  for argument in _numeric_arguments(name):
    if _annotation(name, argument) in ("int", "int | None"):
      continue
    with pytest.raises(ValueError, match=rf"{argument}"):
      _twin(name, **{argument: bad})


@pytest.mark.parametrize("name", NAMES)
def test_integer_arguments_take_ints_only(name):
  for argument in _arguments_of_kind(name, int):
    if _annotation(name, argument) != "int":
      continue
    with pytest.raises(TypeError, match=rf"{argument} must be an int"):
      _twin(name, **{argument: 1.0})


@pytest.mark.parametrize("name", NAMES)
def test_tuples_of_the_wrong_length_or_contents_are_refused(name):
  for argument in _arguments_of_kind(name, tuple):
    default = inspect.signature(TWINS[name].factory).parameters[argument].default
    for bad in (default[:-1], (*default, 0.5)):
      with pytest.raises(ValueError, match=rf"{argument}|Coefficients"):
        _twin(name, **{argument: bad})
    with pytest.raises(TypeError, match=rf"{argument}\[1\] must be a real number"):
      _twin(name, **{argument: (default[0], "0.5", *default[2:])})
    with pytest.raises(TypeError, match=rf"{argument} must be a tuple"):
      _twin(name, **{argument: 0.5})


@pytest.mark.parametrize("name", NAMES)
def test_flags_take_bools_only(name):
  for argument in _arguments_of_kind(name, bool):
    for bad in (1, "True"):
      with pytest.raises(TypeError, match=rf"{argument} must be True or False"):
        _twin(name, **{argument: bad})


@pytest.mark.parametrize("name", NAMES)
def test_valid_arguments_of_every_accepted_type_pass(name):
  """0-d arrays, numpy scalars and traced values stay accepted (sweeps under vmap)."""
  arguments = [a for a in _numeric_arguments(name) if a not in ("max_iter", "max_eval")]
  for argument in arguments:
    default = inspect.signature(TWINS[name].factory).parameters[argument].default
    if isinstance(default, float):
      _twin(name, **{argument: np.float32(default)})
      _twin(name, **{argument: jnp.asarray(default)})
      jax.vmap(lambda v, a=argument: _twin(name, **{a: v}).init(jnp.ones((2, 3))))(
        jnp.full(2, default)
      )


def test_core_transformations_refuse_strings():
  with pytest.raises(TypeError, match="b1 must be a real number"):
    jaxopt_fix.scale_by_amsgrad(b1="0.5")  # pyright: ignore[reportArgumentType]


# --- numerics at the edges ----------------------------------------------------------------


def _params():
  return {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3)}


def _grad(params):
  """The gradient of ``sum(a * w**2) / 2 + b . w``, nowhere near zero."""
  a = jnp.linspace(0.5, 2.0, 6).reshape(2, 3)
  b = jnp.linspace(0.3, -0.7, 6).reshape(2, 3)
  return jax.tree.map(lambda w: a * w + b, params)


def _saturate(state):
  def leaf(path, x):
    return jnp.full_like(x, _INT_MAX - 2) if getattr(path[-1], "name", None) in _COUNTERS else x

  return jax.tree_util.tree_map_with_path(leaf, state)


def _counters(state) -> list[int]:
  return [
    int(x)
    for path, x in jax.tree_util.tree_leaves_with_path(state)
    if getattr(path[-1], "name", None) in _COUNTERS
  ]


# Muon orthogonalizes in bfloat16, as torch does: its update is piecewise constant at the
# scale of a finite difference, so its reference is the slope of the least-squares line
# through 25 points over +-0.03, where the rounding noise averages out.
_MUON_OFFSETS = np.linspace(-0.03, 0.03, 25)
_OFFSETS = np.array([-1e-6, 1e-6])


def _program(name: str):
  """Ten updates of twin ``name`` from ``(params_0, state)``: ``w . params_10`` and its gradient
  in ``params_0``, at ``params_0`` and moved by each offset along each coordinate; the slopes
  of the values against the offsets; and the last params, state and updates."""
  tx = _twin(name, lr=0.02) if name == "muon" else _twin(name)
  weights = jnp.linspace(1.0, -0.5, 6).reshape(2, 3)
  offsets = jnp.asarray(_MUON_OFFSETS if name == "muon" else _OFFSETS)

  def objective(w0, state):
    def body(carry, _):
      params, state = carry
      updates, state = tx.update(_grad(params), state, params)
      return (optax.apply_updates(params, updates), state), updates

    (params, state), updates = jax.lax.scan(body, ({"w": w0}, state), length=10)
    return jnp.sum(weights * params["w"]), (params, state, jax.tree.map(lambda u: u[-1], updates))

  def run(w0, state):
    moves = jnp.eye(6).reshape(6, 1, 2, 3) * offsets[None, :, None, None]
    points = jnp.concatenate([w0[None], (w0[None, None] + moves).reshape(-1, 2, 3)])
    gradient = jax.vmap(jax.value_and_grad(objective, has_aux=True), in_axes=(0, None))
    (values, aux), grads = gradient(points, state)
    moved = values[1:].reshape(6, -1)
    centered = moved - jnp.mean(moved, axis=1, keepdims=True)
    slopes = (centered @ offsets / jnp.sum(offsets**2)).reshape(2, 3)
    return grads[0], slopes, jax.tree.map(lambda x: x[0], aux)

  return tx, run


@functools.cache
def _runs(saturated: bool) -> dict:
  """Every twin's :func:`_program`, in float64, from fresh states or from states whose counts
  are 2**31 - 3: one compiled program for all the twins and both tests (compiling them
  together costs 30% less than one by one)."""
  with jax.enable_x64(True):
    w0 = _params()["w"].astype(jnp.float64)
    programs, run = _compiled()
    states = {name: tx.init({"w": w0}) for name, (tx, _) in programs.items()}
    return jax.device_get(run(w0, _saturate(states) if saturated else states))


@functools.cache
def _compiled():
  programs = {name: _program(name) for name in NAMES}
  return programs, jax.jit(lambda w0, states: {n: programs[n][1](w0, states[n]) for n in programs})


@pytest.mark.parametrize("name", NAMES)
def test_ten_steps_from_the_saturation_point_stay_finite(name):
  """Count 2**31 - 3: two steps to saturate, eight at the saturated count (the NAdam twin
  turned NaN forever there: ``step + 1`` wrapped)."""
  grad, _, (params, state, updates) = _runs(saturated=True)[name]
  for value in (grad, params["w"], updates["w"]):
    assert np.isfinite(value).all()
  assert all(c == _INT_MAX for c in _counters(state))
  assert _counters(state) or name == "sgd"  # SGD keeps no count.


@pytest.mark.parametrize("name", NAMES)
def test_grad_through_ten_updates_matches_finite_differences(name):
  """d(w . params_10)/d params_0, reverse mode against central differences, in float64
  (the RAdam and L-BFGS twins gave NaN: an unselected branch of a where was NaN). Muon's
  reference is a least-squares slope (see ``_MUON_OFFSETS``), to 0.1."""
  grad, finite_differences, _ = _runs(saturated=False)[name]
  assert np.isfinite(grad).all()
  tolerance = {"atol": 0.1} if name == "muon" else {"rtol": 1e-6, "atol": 1e-8}
  np.testing.assert_allclose(grad, finite_differences, **tolerance)


def _eps_vanishes_in_float16(name: str) -> bool:
  eps = inspect.signature(TWINS[name].factory).parameters.get("eps")
  return eps is not None and isinstance(eps.default, float) and np.float16(eps.default) == 0


_EPS_TWINS = [n for n in NAMES if _eps_vanishes_in_float16(n)]


@pytest.mark.parametrize("name", _EPS_TWINS)
def test_an_eps_that_rounds_to_zero_in_float16_warns_once_at_init(name):
  tx = _twin(name)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    tx.init({"a": jnp.ones((2, 3), jnp.float16), "b": jnp.ones((2, 3), jnp.float16)})
  assert [str(w.message).split(":")[0] for w in caught] == [f"torch_optim.{name}"]
  assert "rounds to 0 in float16" in str(caught[0].message)
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    tx.init({"a": jnp.ones((2, 3), jnp.float32)})
    _twin(name, eps=1e-3).init({"a": jnp.ones((2, 3), jnp.float16)})


def test_amsgrad_warns_when_eps_rounds_to_zero():
  with pytest.warns(RuntimeWarning, match="scale_by_amsgrad: eps=1e-08 rounds to 0 in float16"):
    jaxopt_fix.scale_by_amsgrad().init(jnp.ones(3, jnp.float16))
