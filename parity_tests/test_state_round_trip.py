"""State conversion for every twin: torch -> JAX -> torch restores torch's state exactly.

Every twin with per-parameter state, on parameters of shapes ``()``, ``(1,)``, ``(1, 1)``,
``(1, 5)``, ``(5, 1)`` and ``(3, 4, 2)`` (Muon: the matrices), before the first step and
after 1 and 7 steps: the state read from torch and written into a fresh optimizer of the
same configuration must be torch's, key for key, dtype for dtype and bit for bit, and the
next torch step must land on the same parameters. Then: which leaf is which parameter (by
name, by position, refused when neither proves it), and the refusals of ``state_to_torch``
(checked before anything is written).
"""

import copy
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from jaxopt_fix import torch_optim
from jaxopt_fix.torch_optim import _state_schema

SHAPES = ((), (1,), (1, 1), (1, 5), (5, 1), (3, 4, 2))

# Per torch class, the configurations whose state layouts differ (optional buffers).
CONFIGS: dict[str, tuple[dict[str, Any], ...]] = {
  "ASGD": ({"t0": 2.0},),
  "Adadelta": ({},),
  "Adafactor": ({}, {"weight_decay": 0.1}),
  "Adagrad": ({"initial_accumulator_value": 0.5},),
  "Adam": ({}, {"amsgrad": True}),
  "AdamW": ({"amsgrad": True},),
  "Adamax": ({},),
  "Muon": ({},),
  "NAdam": ({}, {"decoupled_weight_decay": True, "weight_decay": 0.1}),
  "RAdam": ({},),
  "RMSprop": ({}, {"momentum": 0.5, "centered": True}),
  "Rprop": ({},),
  "SGD": ({"momentum": 0.9}, {"momentum": 0.0}),
  "SparseAdam": ({},),
}
CASES = [
  pytest.param(name, kwargs, id=f"{name}-{i}")
  for name, c in CONFIGS.items()
  for i, kwargs in enumerate(c)
]


def test_every_convertible_twin_is_covered():
  convertible = {
    name
    for name, twin in torch_optim.TWINS.items()
    if not isinstance(twin.schema, _state_schema.UnconvertibleState)
  }
  assert set(CONFIGS) == convertible


def _shapes(class_name: str) -> tuple[tuple[int, ...], ...]:
  return tuple(s for s in SHAPES if len(s) == 2) if class_name == "Muon" else SHAPES


def _parameters(class_name: str) -> list[torch.nn.Parameter]:
  shapes = _shapes(class_name)
  return [
    torch.nn.Parameter(torch.linspace(-1, 1, int(np.prod(s)), dtype=torch.float64).reshape(s))
    for s in shapes
  ]


def _step(opt: torch.optim.Optimizer, tensors, rng: np.random.Generator) -> None:
  for p in tensors:
    grad = torch.from_numpy(rng.standard_normal(tuple(p.shape))).reshape(p.shape).to(p.dtype)
    p.grad = grad.to_sparse() if isinstance(opt, torch.optim.SparseAdam) else grad
  opt.step()


def _assert_same_torch_state(a: dict[str, Any], b: dict[str, Any]) -> None:
  assert a.keys() == b.keys()
  for key, value in a.items():
    other = b[key]
    assert type(other) is type(value), key
    if isinstance(value, torch.Tensor):
      assert (other.dtype, other.device, other.shape) == (value.dtype, value.device, value.shape)
      assert torch.equal(other, value), key
    else:
      assert other == value, key


@pytest.mark.parametrize("steps", [0, 1, 7])
@pytest.mark.parametrize(("class_name", "kwargs"), CASES)
def test_torch_to_jax_to_torch_is_exact(class_name, kwargs, steps):
  cls = getattr(torch.optim, class_name)
  rng = np.random.default_rng(steps)
  tensors = _parameters(class_name)
  source = cls(tensors, **kwargs)
  for _ in range(steps):
    _step(source, tensors, rng)
  with jax.enable_x64(True):
    params = [jnp.asarray(t.detach().numpy()) for t in tensors]
    state = torch_optim.state_from_torch(source, params)
    # The twin's state has the params' shapes and dtypes, ready for tx.update.
    tx = torch_optim.from_torch(source)
    expected = tx.init(params)
    assert jax.tree.structure(state) == jax.tree.structure(expected)
    for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(expected), strict=True):
      assert (np.shape(got), jnp.result_type(got)) == (np.shape(want), jnp.result_type(want))
    copies = [torch.nn.Parameter(t.detach().clone()) for t in tensors]
    target = cls(copies, **kwargs)
    torch_optim.state_to_torch(state, target)
  for a, b in zip(tensors, copies, strict=True):
    _assert_same_torch_state(source.state.get(a, {}), target.state.get(b, {}))
  next_rng = np.random.default_rng(100)
  _step(source, tensors, next_rng)
  _step(target, copies, np.random.default_rng(100))
  for a, b in zip(tensors, copies, strict=True):
    assert torch.equal(a, b)


# --- which leaf is which parameter --------------------------------------------------------


def _twelve_layers() -> torch.nn.Sequential:
  torch.manual_seed(0)
  return torch.nn.Sequential(*[torch.nn.Linear(4, 4, bias=False) for _ in range(12)])


def _trained(net: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
  for _ in range(2):
    opt.zero_grad()
    net(torch.linspace(-1, 1, 8).reshape(2, 4)).square().sum().backward()
    opt.step()


def _name_keyed(net: torch.nn.Module) -> dict[str, jax.Array]:
  return {k: jnp.asarray(v.detach().numpy()) for k, v in net.named_parameters()}


def test_same_shapes_keyed_by_name_without_names_are_refused():
  net = _twelve_layers()
  opt = torch.optim.Adam(net.parameters())
  _trained(net, opt)
  with pytest.raises(ValueError, match=r"cannot tell which leaf.*named_parameters"):
    torch_optim.state_from_torch(opt, _name_keyed(net))
  with pytest.raises(ValueError, match=r"cannot tell which leaf"):
    torch_optim.param_labels(opt, _name_keyed(net))


@pytest.mark.parametrize("names_from", ["argument", "optimizer"])
def test_params_keyed_by_name_are_matched_by_name(names_from):
  net = _twelve_layers()
  if names_from == "optimizer":  # torch keeps param_names in the groups
    opt = torch.optim.Adam(net.named_parameters())
    named = None
  else:
    opt = torch.optim.Adam(net.parameters())
    named = dict(net.named_parameters())
  _trained(net, opt)
  state = torch_optim.state_from_torch(opt, _name_keyed(net), named_parameters=named)
  exp_avg = optax.tree.get(state, "exp_avg")
  for name, p in net.named_parameters():
    np.testing.assert_array_equal(exp_avg[name], opt.state[p]["exp_avg"].numpy())
  # And back: each named leaf lands on its own parameter.
  target_net = _twelve_layers()
  target = torch.optim.Adam(target_net.parameters())
  target_named = dict(target_net.named_parameters())
  torch_optim.state_to_torch(state, target, named_parameters=target_named)
  for name, p in net.named_parameters():
    torch.testing.assert_close(
      target.state[target_named[name]]["exp_avg"], opt.state[p]["exp_avg"], rtol=0, atol=0
    )


def test_nested_names_and_groups():
  net = _twelve_layers()
  odd = [p for i, p in enumerate(net.parameters()) if i % 2]
  even = [p for i, p in enumerate(net.parameters()) if not i % 2]
  opt = torch.optim.SGD([{"params": even}, {"params": odd, "lr": 0.5}], lr=0.1)
  nested: dict[str, Any] = {}
  for name, p in net.named_parameters():
    layer, leaf = name.split(".")
    nested.setdefault(layer, {})[leaf] = jnp.asarray(p.detach().numpy())
  labels = torch_optim.param_labels(opt, nested, named_parameters=net.named_parameters())
  assert {k: v["weight"] for k, v in labels.items()} == {str(i): f"group{i % 2}" for i in range(12)}
  tx = torch_optim.from_torch(opt, named_parameters=net.named_parameters())
  updates: Any = tx.update(jax.tree.map(jnp.ones_like, nested), tx.init(nested))[0]
  assert float(updates["10"]["weight"][0, 0]) == pytest.approx(-0.1)
  assert float(updates["11"]["weight"][0, 0]) == pytest.approx(-0.5)


def test_a_list_is_matched_by_position_even_with_same_shapes():
  net = _twelve_layers()
  opt = torch.optim.Adam(net.parameters())
  _trained(net, opt)
  params = [jnp.asarray(p.detach().numpy()) for p in net.parameters()]
  state = torch_optim.state_from_torch(opt, params)
  for leaf, p in zip(optax.tree.get(state, "exp_avg"), net.parameters(), strict=True):
    np.testing.assert_array_equal(leaf, opt.state[p]["exp_avg"].numpy())


def test_named_parameters_must_name_every_parameter():
  net = _twelve_layers()
  opt = torch.optim.Adam(net.parameters())
  with pytest.raises(ValueError, match=r"names no tensor of the optimizer's parameters \[11\]"):
    torch_optim.param_labels(
      opt, _name_keyed(net), named_parameters=list(net.named_parameters())[:11]
    )


# --- state_to_torch checks everything before writing -------------------------------------


def _snapshot(opt: torch.optim.Optimizer) -> list[dict[str, Any]]:
  return [copy.deepcopy(dict(opt.state.get(p, {}))) for g in opt.param_groups for p in g["params"]]


def _assert_unchanged(opt: torch.optim.Optimizer, before: list[dict[str, Any]]) -> None:
  after = _snapshot(opt)
  for a, b in zip(before, after, strict=True):
    _assert_same_torch_state(a, b)


def _adam_state(**kwargs) -> optax.OptState:
  tensors = [torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2, 2))]
  opt = torch.optim.Adam(tensors, **kwargs)
  _step(opt, tensors, np.random.default_rng(0))
  return torch_optim.state_from_torch(opt, [jnp.ones(3), jnp.ones((2, 2))])


def test_another_optimizers_state_is_refused():
  target = torch.optim.SGD([torch.zeros(3), torch.zeros(2, 2)], momentum=0.9)
  with pytest.raises(ValueError, match=r"ScaleByTorchAdamState.*ScaleByTorchSGDState"):
    torch_optim.state_to_torch(_adam_state(), target)
  assert not target.state


@pytest.mark.parametrize("trained", [False, True])
def test_a_state_without_the_amsgrad_buffer_is_refused(trained):
  tensors = [torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2, 2))]
  target = torch.optim.Adam(tensors, amsgrad=True)
  if trained:
    _step(target, tensors, np.random.default_rng(1))
  before = _snapshot(target)
  with pytest.raises(ValueError, match=r"keeps the state keys \['max_exp_avg_sq'\]"):
    torch_optim.state_to_torch(_adam_state(), target)
  _assert_unchanged(target, before)
  with pytest.raises(ValueError, match=r"holds \['max_exp_avg_sq'\], which torch"):
    torch_optim.state_to_torch(_adam_state(amsgrad=True), torch.optim.Adam(tensors))


def test_a_mismatch_in_the_last_group_leaves_the_first_unwritten():
  tensors = [torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2, 2))]
  source = torch.optim.Adam([{"params": tensors[:1]}, {"params": tensors[1:]}])
  _step(source, tensors, np.random.default_rng(2))
  state = torch_optim.state_from_torch(source, [jnp.ones(3), jnp.ones((2, 2))])
  wrong = [torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(4))]
  target = torch.optim.Adam([{"params": wrong[:1]}, {"params": wrong[1:]}])
  with pytest.raises(ValueError, match=r"torch parameter 1 .*\(2, 2\)"):
    torch_optim.state_to_torch(state, target)
  assert not target.state


def test_meta_device_parameters_are_refused():
  meta = [torch.nn.Parameter(torch.empty(3, device="meta"))]
  opt = torch.optim.Adam(meta)
  with pytest.raises(ValueError, match=r"'meta' device, which holds no values to write"):
    torch_optim.state_to_torch(torch_optim.from_torch(opt).init([jnp.ones(3)]), opt)
  with pytest.raises(ValueError, match=r"'meta' device, which holds no values to read"):
    torch_optim.state_from_torch(opt, [jnp.ones(3)])


def test_sparse_adam_step_stays_a_python_int():
  p = torch.nn.Parameter(torch.ones(4, dtype=torch.float64))
  opt = torch.optim.SparseAdam([p])
  _step(opt, [p], np.random.default_rng(3))
  with jax.enable_x64(True):
    state = torch_optim.state_from_torch(opt, [jnp.ones(4, jnp.float64)])
  torch_optim.state_to_torch(state, opt)
  assert type(opt.state[p]["step"]) is int
