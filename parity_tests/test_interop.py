"""torch_optim.from_torch / state_from_torch / state_to_torch: resuming across frameworks.

Resuming must be invisible: 50 torch steps, the state moved to JAX, 50 JAX steps (and the
reverse) must follow the 100-step torch trajectory as closely as the twin itself does, so
every step of the hybrid run is compared with the runner's metric and the suite's
tolerances (``config.TOLERANCES``).
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from jaxopt_fix import torch_optim
from jaxopt_fix.torch_optim import _registry
from parity_tests import runner
from parity_tests.config import TOLERANCES

STEPS, SPLIT = 100, 50
NAMES = list(runner.PARAM_SHAPES)  # "bias", "kernel": jax.tree.leaves order of the dict

# (torch class, keyword arguments, lr of the second param group or None for one group).
CASES: dict[str, tuple[str, dict[str, Any], float | None]] = {
  "adam": ("Adam", {"lr": 0.01, "weight_decay": 0.1}, None),
  "adam_amsgrad": ("Adam", {"lr": 0.01, "amsgrad": True, "maximize": True}, None),
  "adamw": ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}, None),
  "adam_two_groups": ("Adam", {"lr": 0.01, "amsgrad": True}, 0.05),
  "adamw_two_groups": ("AdamW", {"lr": 0.01}, 0.003),
  # The other twins: the conversion is generic over their state schemas.
  "sgd": ("SGD", {"lr": 0.01, "momentum": 0.9, "dampening": 0.1}, None),
  "sgd_nesterov_two_groups": ("SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True}, 0.02),
  "adagrad": ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}, None),
  "rmsprop": ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}, None),
  "adadelta": ("Adadelta", {"lr": 1.0, "weight_decay": 0.1}, None),
  "adamax": ("Adamax", {"lr": 0.01}, None),
  "nadam": ("NAdam", {"lr": 0.01}, 0.02),
  "radam": ("RAdam", {"lr": 0.01}, None),
  "asgd": ("ASGD", {"lr": 0.01, "t0": 20.0}, None),
  "rprop": ("Rprop", {"lr": 0.01}, None),
  "adafactor": ("Adafactor", {"lr": 0.01, "weight_decay": 0.1}, None),
}


def _make_torch(case: str, tensors: list[torch.Tensor]) -> torch.optim.Optimizer:
  class_name, kwargs, second_lr = CASES[case]
  cls = getattr(torch.optim, class_name)
  if second_lr is None:
    return cls(tensors, **kwargs)
  return cls([{"params": tensors[:1]}, {"params": tensors[1:], "lr": second_lr}], **kwargs)


def _fields(opt: torch.optim.Optimizer, tensors: list[torch.Tensor]) -> list[str]:
  """The per-parameter state tensors torch keeps (shaped like the parameter)."""
  state = opt.state[tensors[1]]
  return sorted(
    k for k, v in state.items() if isinstance(v, torch.Tensor) and v.shape == tensors[1].shape
  )


def _torch_steps(opt, tensors, grads, start, stop, fields):
  """Steps ``start..stop-1`` of an eager torch loop: per step params, state, step."""
  params = [[] for _ in tensors]
  state = {f: [[] for _ in tensors] for f in fields}
  count = []
  for t in range(start, stop):
    for p, g in zip(tensors, grads, strict=True):
      p.grad = torch.from_numpy(g[t].copy())
    opt.step()
    for i, p in enumerate(tensors):
      params[i].append(p.detach().numpy().copy())
      for f in fields:
        state[f][i].append(opt.state[p][f].numpy().copy())
    step = opt.state[tensors[0]].get("step")
    count.append(-1 if step is None else int(step))
  return (
    [np.stack(p) for p in params],
    {f: [np.stack(v) for v in leaves] for f, leaves in state.items()},
    np.array(count),
  )


def _field(state: Any, name: str) -> dict[str, Any]:
  """A state field as {leaf name: value}, merged over multi_transform's groups."""
  merged = {}
  for _, tree in optax.tree.get_all_with_path(state, name):
    for k, v in tree.items():
      if not isinstance(v, optax.MaskedNode):
        merged[k] = v
  return merged


def _jax_steps(tx, params, state, grads, start, stop, fields):
  """Steps ``start..stop-1`` in one jitted scan, from ``params`` and ``state``."""
  grad_tree = {n: jnp.asarray(g[start:stop]) for n, g in zip(NAMES, grads, strict=True)}

  @jax.jit
  def run(params, state, grad_tree):
    def step(carry, g):
      params, state = carry
      updates, state = tx.update(g, state, params)
      params = optax.apply_updates(params, updates)
      return (params, state), (params, state)

    return jax.lax.scan(step, (params, state), grad_tree)

  (params, state), (params_hist, state_hist) = run(params, state, grad_tree)
  steps = [s for _, s in optax.tree.get_all_with_path(state_hist, "step")]
  count = np.asarray(steps[0]) if steps else np.full(stop - start, -1)
  recorded = (
    [np.asarray(params_hist[n]) for n in NAMES],
    {f: [np.asarray(_field(state_hist, f)[n]) for n in NAMES] for f in fields},
    count,
  )
  return (params, state), recorded


def _concat(first, second) -> runner.Trajectory:
  params = [np.concatenate(pair) for pair in zip(first[0], second[0], strict=True)]
  state = {
    f: [np.concatenate(pair) for pair in zip(first[1][f], second[1][f], strict=True)]
    for f in first[1]
  }
  return runner.Trajectory(params, state, np.concatenate([first[2], second[2]]))


def _check(hybrid: runner.Trajectory, reference: runner.Trajectory, params0, dtype: str):
  table = TOLERANCES[dtype]
  errors = runner.compare(hybrid, reference, params0, table["displacement"].param_ulps)
  for e in errors:
    rtol = table["displacement" if e.field == "displacement" else "state"].rtol
    assert e.error <= rtol, e
  np.testing.assert_array_equal(hybrid.count, reference.count)


def _setup(case: str, dtype: str):
  params0 = runner.initial_params("normal", dtype)
  grads = runner.grads_for("gaussian", STEPS, dtype)
  tensors = [torch.from_numpy(p.copy()) for p in params0]
  reference_opt = _make_torch(case, tensors)
  # One step to learn which state keys torch keeps, then the full reference run anew.
  probe = [torch.from_numpy(p.copy()) for p in params0]
  probe_opt = _make_torch(case, probe)
  for p, g in zip(probe, grads, strict=True):
    p.grad = torch.from_numpy(g[0].copy())
  probe_opt.step()
  fields = _fields(probe_opt, probe)
  reference = runner.Trajectory(*_torch_steps(reference_opt, tensors, grads, 0, STEPS, fields))
  return params0, grads, fields, reference


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", list(CASES))
def test_torch_then_jax_follows_torch(case, dtype):
  params0, grads, fields, reference = _setup(case, dtype)
  tensors = [torch.from_numpy(p.copy()) for p in params0]
  opt = _make_torch(case, tensors)
  first = _torch_steps(opt, tensors, grads, 0, SPLIT, fields)
  with jax.enable_x64(dtype == "float64"):
    params = {n: jnp.asarray(p.detach().numpy()) for n, p in zip(NAMES, tensors, strict=True)}
    tx = torch_optim.from_torch(opt)
    state = torch_optim.state_from_torch(opt, params)
    _, second = _jax_steps(tx, params, state, grads, SPLIT, STEPS, fields)
  _check(_concat(first, second), reference, params0, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", list(CASES))
def test_jax_then_torch_follows_torch(case, dtype):
  params0, grads, fields, reference = _setup(case, dtype)
  tensors = [torch.from_numpy(p.copy()) for p in params0]
  opt = _make_torch(case, tensors)  # built before any step: its hyperparameters only
  with jax.enable_x64(dtype == "float64"):
    tx = torch_optim.from_torch(opt)
    params = {n: jnp.asarray(p) for n, p in zip(NAMES, params0, strict=True)}
    (params, state), first = _jax_steps(tx, params, tx.init(params), grads, 0, SPLIT, fields)
    with torch.no_grad():
      for t, n in zip(tensors, NAMES, strict=True):
        t.copy_(torch.from_numpy(np.array(params[n])))
    torch_optim.state_to_torch(state, opt)
  second = _torch_steps(opt, tensors, grads, SPLIT, STEPS, fields)
  _check(_concat(first, second), reference, params0, dtype)


# --- round trips and details -------------------------------------------------------------


def _trained(opt_factory, steps=3, dtype=torch.float64):
  tensors = [torch.zeros(7, dtype=dtype), torch.zeros(3, 5, dtype=dtype)]
  opt = opt_factory(tensors)
  rng = np.random.default_rng(0)
  for _ in range(steps):
    for p in tensors:
      p.grad = torch.from_numpy(rng.standard_normal(tuple(p.shape))).to(dtype)
    opt.step()
  return opt, tensors


def _params(dtype=jnp.float32):
  return {"bias": jnp.zeros(7, dtype), "kernel": jnp.zeros((3, 5), dtype)}


def test_round_trip_restores_torch_state_exactly():
  opt, tensors = _trained(lambda t: torch.optim.Adam(t, lr=0.1, amsgrad=True))
  before = {i: {k: v.clone() for k, v in opt.state[p].items()} for i, p in enumerate(tensors)}
  with jax.enable_x64(True):
    state = torch_optim.state_from_torch(opt, _params(jnp.float64))
    opt.state.clear()
    torch_optim.state_to_torch(state, opt)
  for i, p in enumerate(tensors):
    assert opt.state[p].keys() == before[i].keys()
    for k, v in before[i].items():
      assert opt.state[p][k].dtype == v.dtype, k
      torch.testing.assert_close(opt.state[p][k], v, rtol=0, atol=0)


def test_step_and_schedule_counts():
  opt, _ = _trained(lambda t: torch.optim.AdamW(t, lr=0.1), steps=7)
  state = torch_optim.state_from_torch(opt, _params())
  assert int(optax.tree.get(state, "step")) == 7
  assert optax.tree.get(state, "step").dtype == jnp.int32
  # AdamW's decoupled weight decay evaluates lr at its own count: it continues from 7.
  (count,) = [c for _, c in optax.tree.get_all_with_path(state, "count")]
  assert int(count) == 7


def test_fresh_optimizer_gives_the_initial_state():
  opt = torch.optim.Adam([torch.zeros(7), torch.zeros(3, 5)])
  state = torch_optim.state_from_torch(opt, _params())
  expected = torch_optim.from_torch(opt).init(_params())
  jax.tree.map(np.testing.assert_array_equal, state, expected)


def test_hyperparameters_are_taken_from_the_groups():
  tensors = [torch.zeros(7), torch.zeros(3, 5)]
  opt = torch.optim.Adam(
    [{"params": tensors[:1]}, {"params": tensors[1:], "lr": torch.tensor(0.5)}], lr=0.1
  )
  scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1)  # adds "initial_lr"
  tx = torch_optim.from_torch(opt, scheduler=scheduler)
  params = _params()
  assert torch_optim.param_labels(opt, params) == {"bias": "group0", "kernel": "group1"}
  updates, _ = tx.update(jax.tree.map(jnp.ones_like, params), tx.init(params))
  bias, kernel = jax.tree.leaves(updates)  # leaves in order: bias (group 0), kernel
  np.testing.assert_allclose(bias, -0.1, rtol=1e-6)
  np.testing.assert_allclose(kernel, -0.5, rtol=1e-6)


@pytest.mark.parametrize("class_name", sorted(torch_optim.TWINS))
def test_every_twin_accepts_its_default_param_group(class_name):
  shape = (2, 3) if class_name == "Muon" else (3,)  # Muon takes matrices only
  opt = getattr(torch.optim, class_name)([torch.zeros(shape)])
  if class_name == "LBFGS":  # torch's default max_iter=20 is not closure-free
    with pytest.raises(ValueError, match="max_iter=20 is not supported"):
      torch_optim.from_torch(opt)
    opt = torch.optim.LBFGS([torch.zeros(shape)], max_iter=1)
  tx = torch_optim.from_torch(opt)
  assert isinstance(tx, optax.GradientTransformation)
  tx.init(jnp.zeros(shape))


def test_adamw_and_decoupled_adam_are_accepted():
  tx = torch_optim.from_torch(torch.optim.AdamW([torch.zeros(2)]))
  assert isinstance(tx, optax.GradientTransformation)
  opt = torch.optim.Adam([torch.zeros(2)], decoupled_weight_decay=True, weight_decay=0.1)
  assert isinstance(torch_optim.from_torch(opt), optax.GradientTransformation)


def test_sgd_buffer_flag_round_trips():
  opt = torch.optim.SGD([torch.zeros(7), torch.zeros(3, 5)], lr=0.1, momentum=0.9)
  state = torch_optim.state_from_torch(opt, _params())
  assert not bool(optax.tree.get(state, "has_momentum_buffer"))
  torch_optim.state_to_torch(state, opt)  # no buffer yet: torch's first step stays special
  assert all(not s for s in opt.state.values())
  opt, _ = _trained(lambda t: torch.optim.SGD(t, lr=0.1, momentum=0.9))
  state = torch_optim.state_from_torch(opt, _params())
  assert bool(optax.tree.get(state, "has_momentum_buffer"))


# --- errors --------------------------------------------------------------------------------


def test_unsupported_class_is_named(monkeypatch):
  # Every torch.optim class has a twin: pretend one does not.
  without_lbfgs = {k: v for k, v in torch_optim.TWINS.items() if k != "LBFGS"}
  monkeypatch.setattr(_registry, "TWINS", without_lbfgs)
  opt = torch.optim.LBFGS([torch.zeros(2)])
  with pytest.raises(TypeError, match=r"torch\.optim\.LBFGS.*supported: .*Adam"):
    torch_optim.from_torch(opt)


def test_subclass_is_rejected():
  class MyAdam(torch.optim.Adam):
    pass

  with pytest.raises(TypeError, match=r"MyAdam.*subclasses"):
    torch_optim.from_torch(MyAdam([torch.zeros(2)]))


def test_not_an_optimizer():
  with pytest.raises(TypeError, match=r"expected a torch\.optim\.Optimizer"):
    torch_optim.from_torch(object())


def test_unknown_group_key_raises():
  opt = torch.optim.Adam([torch.zeros(2)])
  opt.param_groups[0]["my_setting"] = 3
  with pytest.raises(ValueError, match=r"param group 0.*'my_setting'.*does not accept"):
    torch_optim.from_torch(opt)


def test_adam_with_wrong_implied_key_raises():
  opt = torch.optim.AdamW([torch.zeros(2)])
  opt.param_groups[0]["decoupled_weight_decay"] = False
  with pytest.raises(ValueError, match="decoupled_weight_decay"):
    torch_optim.from_torch(opt)


def test_wrong_number_of_leaves():
  opt, _ = _trained(lambda t: torch.optim.Adam(t))
  with pytest.raises(ValueError, match="1 leaves but the torch optimizer has 2 parameters"):
    torch_optim.state_from_torch(opt, {"bias": jnp.zeros(7)})


def test_wrong_shape_names_the_leaf():
  opt, _ = _trained(lambda t: torch.optim.Adam(t))
  params = {"bias": jnp.zeros(7), "kernel": jnp.zeros((5, 3))}
  with pytest.raises(ValueError, match=r"leaf 1 \(\['kernel'\]\) has shape \(5, 3\).*\(3, 5\)"):
    torch_optim.state_from_torch(opt, params)


def test_different_steps_within_a_group_raise():
  opt, tensors = _trained(lambda t: torch.optim.Adam(t))
  opt.state[tensors[1]]["step"] = torch.tensor(9.0)
  with pytest.raises(ValueError, match="steps differ"):
    torch_optim.state_from_torch(opt, _params())


def test_partial_state_within_a_group_raises():
  opt, tensors = _trained(lambda t: torch.optim.Adam(t))
  del opt.state[tensors[1]]
  with pytest.raises(ValueError, match=r"parameters \[1\] have no torch state"):
    torch_optim.state_from_torch(opt, _params())


def test_torch_key_without_field_raises():
  opt, tensors = _trained(lambda t: torch.optim.Adam(t))
  for p in tensors:
    opt.state[p]["extra"] = torch.zeros(())
  with pytest.raises(ValueError, match=r"\['extra'\] have no field"):
    torch_optim.state_from_torch(opt, _params())


def test_state_to_torch_rejects_a_mismatched_optimizer():
  opt, _ = _trained(lambda t: torch.optim.Adam(t))
  state = torch_optim.state_from_torch(opt, _params())
  other = torch.optim.Adam([torch.zeros(7), torch.zeros(4, 5)])
  with pytest.raises(ValueError, match=r"parameter 1.*\(3, 5\).*\(4, 5\)"):
    torch_optim.state_to_torch(state, other)
  two_groups = torch.optim.Adam([{"params": [torch.zeros(7)]}, {"params": [torch.zeros(3, 5)]}])
  with pytest.raises(ValueError, match="2 param groups"):
    torch_optim.state_to_torch(state, two_groups)
  two_group_state = torch_optim.from_torch(two_groups).init(_params())
  with pytest.raises(ValueError, match=r"1 param group but the state has the groups"):
    torch_optim.state_to_torch(two_group_state, opt)


def test_state_to_torch_rejects_stale_torch_keys():
  opt, _ = _trained(lambda t: torch.optim.Adam(t, amsgrad=True))
  plain = torch_optim.adam()
  state = plain.init(_params())
  with pytest.raises(ValueError, match=r"\['max_exp_avg_sq'\].*does not hold"):
    torch_optim.state_to_torch(state, opt)


def test_converted_state_does_not_share_torchs_memory():
  """torch's next in-place step must not change a state already converted to JAX."""
  w = torch.nn.Parameter(torch.ones(4, dtype=torch.float64))
  opt = torch.optim.Rprop([w])
  w.grad = torch.tensor([1.0, -2.0, 3.0, -4.0], dtype=torch.float64)
  opt.step()
  with jax.enable_x64(True):
    state = torch_optim.state_from_torch(opt, [jnp.ones(4, jnp.float64)])
    before = [np.array(leaf) for leaf in jax.tree.leaves(state)]
    opt.step()
    after = [np.array(leaf) for leaf in jax.tree.leaves(state)]
  for b, a in zip(before, after, strict=True):
    np.testing.assert_array_equal(b, a)


def test_adafactor_with_matrices_only_round_trips():
  """No parameter holds ``variance``: the twin's placeholders stay, nothing is invented."""
  w = torch.nn.Parameter(torch.ones(3, 5))
  opt = torch.optim.Adafactor([w])
  w.grad = torch.ones(3, 5)
  opt.step()
  state = torch_optim.state_from_torch(opt, [jnp.ones((3, 5))])
  torch_optim.state_to_torch(state, opt)
  assert sorted(opt.state[w]) == ["col_var", "row_var", "step"]
