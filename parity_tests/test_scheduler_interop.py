"""A torch run with a learning-rate scheduler moved to JAX and back in the middle of the
schedule: ``from_torch`` / ``state_from_torch`` / ``state_to_torch`` with ``scheduler=``."""

from collections.abc import Callable
import copy
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from jaxopt_fix import torch_optim

L = torch.optim.lr_scheduler
STEPS_IN_TORCH, STEPS_AFTER = 6, 8

# (name, optimizer factory, scheduler factory, gives the metric to step(metric))
RECIPES: list[tuple[str, Callable[..., Any], Callable[..., Any]]] = [
  ("sgd-step", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), lambda o: L.StepLR(o, 3, 0.5)),
  (
    "adam-one_cycle",  # cycles betas[0]
    lambda p: torch.optim.Adam(p, lr=0.1),
    lambda o: L.OneCycleLR(o, max_lr=0.1, total_steps=30),
  ),
  (
    "sgd-one_cycle",  # cycles momentum
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    lambda o: L.OneCycleLR(o, max_lr=0.2, total_steps=30, anneal_strategy="linear"),
  ),
  (
    "adamw-warmup_cosine",
    lambda p: torch.optim.AdamW(p, lr=0.1, weight_decay=0.1),
    lambda o: L.SequentialLR(
      o, [L.LinearLR(o, 0.1, total_iters=4), L.CosineAnnealingLR(o, T_max=10)], milestones=[4]
    ),
  ),
  (
    "rmsprop-cyclic",
    lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5),
    lambda o: L.CyclicLR(o, base_lr=0.001, max_lr=0.01, step_size_up=3),
  ),
  (
    "adam-chained",
    lambda p: torch.optim.Adam(p, lr=0.05),
    lambda o: L.ChainedScheduler([L.ConstantLR(o, 0.5, total_iters=4), L.ExponentialLR(o, 0.9)]),
  ),
  (
    "sgd-warm_restarts",
    lambda p: torch.optim.SGD(p, lr=0.1),
    lambda o: L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01),
  ),
  (
    "sgd-swalr",
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    lambda o: torch.optim.swa_utils.SWALR(o, swa_lr=0.01, anneal_epochs=10),
  ),
  (
    "adam-plateau",
    lambda p: torch.optim.Adam(p, lr=0.1),
    lambda o: L.ReduceLROnPlateau(o, patience=1, cooldown=1, factor=0.5),
  ),
]


def _metric(i: int) -> float:
  return float(10 - i) if i < 3 else 7.0  # improves, then stalls: the plateau reduces


class Run:
  """A torch optimizer and scheduler on two parameters in two param groups, float64."""

  def __init__(self, make_opt, make_sched):
    gen = torch.Generator().manual_seed(0)
    self.w = torch.nn.Parameter(torch.randn(3, 2, generator=gen, dtype=torch.float64))
    self.b = torch.nn.Parameter(torch.randn(2, generator=gen, dtype=torch.float64))
    self.opt = make_opt([{"params": [self.w]}, {"params": [self.b], "lr": 0.03}])
    self.sched = make_sched(self.opt)
    self.plateau = isinstance(self.sched, L.ReduceLROnPlateau)

  def step(self, grads: dict[str, np.ndarray], i: int) -> None:
    self.w.grad, self.b.grad = (torch.from_numpy(grads[k].copy()) for k in ("w", "b"))
    self.opt.step()
    if self.plateau:
      self.sched.step(_metric(i))
    else:
      self.sched.step()

  def params(self) -> dict[str, np.ndarray]:
    return {"w": self.w.detach().numpy().copy(), "b": self.b.detach().numpy().copy()}

  def names(self):
    return [("w", self.w), ("b", self.b)]


def _grads(n: int) -> list[dict[str, np.ndarray]]:
  rng = np.random.default_rng(1)
  return [{"w": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)} for _ in range(n)]


def _continue_in_jax(run: Run, grads, first: int) -> tuple[Any, Any]:
  tx = torch_optim.from_torch(run.opt, scheduler=run.sched, named_parameters=run.names())
  params = jax.tree.map(jnp.asarray, run.params())
  state = torch_optim.state_from_torch(
    run.opt, params, scheduler=run.sched, named_parameters=run.names()
  )
  update = jax.jit(tx.update)
  for i, g in enumerate(grads, start=first):
    extra = {"value": _metric(i)} if run.plateau else {}
    updates, state = update(jax.tree.map(jnp.asarray, g), state, params, **extra)
    params = optax.apply_updates(params, updates)
  return params, state


@pytest.fixture(autouse=True)
def _x64():
  with jax.enable_x64(True):
    yield


@pytest.mark.parametrize(("name", "make_opt", "make_sched"), RECIPES, ids=[r[0] for r in RECIPES])
def test_a_run_moved_mid_schedule_continues_as_in_torch(name, make_opt, make_sched):
  grads = _grads(STEPS_IN_TORCH + STEPS_AFTER)
  run = Run(make_opt, make_sched)
  for i, g in enumerate(grads[:STEPS_IN_TORCH]):
    run.step(g, i)
  staying = copy.deepcopy(run)
  params, _ = _continue_in_jax(run, grads[STEPS_IN_TORCH:], STEPS_IN_TORCH)
  lrs = []
  for i, g in enumerate(grads[STEPS_IN_TORCH:], start=STEPS_IN_TORCH):
    staying.step(g, i)
    lrs.append(staying.opt.param_groups[0]["lr"])
  assert len(set(lrs)) > 1, "the schedule must change the lr in the compared steps"
  for key, torch_value in staying.params().items():
    # float64 twins agree with torch to a few ulps per step (the parity suite's table).
    np.testing.assert_allclose(np.asarray(params[key]), torch_value, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize(("name", "make_opt", "make_sched"), RECIPES, ids=[r[0] for r in RECIPES])
def test_torch_to_jax_to_torch_mid_schedule_is_exact(name, make_opt, make_sched):
  grads = _grads(STEPS_IN_TORCH + STEPS_AFTER)
  run = Run(make_opt, make_sched)
  for i, g in enumerate(grads[:STEPS_IN_TORCH]):
    run.step(g, i)
  params = jax.tree.map(jnp.asarray, run.params())
  state = torch_optim.state_from_torch(
    run.opt, params, scheduler=run.sched, named_parameters=run.names()
  )
  moved = Run(make_opt, make_sched)  # a fresh optimizer and scheduler, built as the first
  with torch.no_grad():
    moved.w.copy_(run.w)
    moved.b.copy_(run.b)
  if moved.plateau:
    # The plateau twin counts its reductions from the lr it was built with: the target's
    # groups must have that lr (state_to_torch's contract).
    for a, b in zip(run.opt.param_groups, moved.opt.param_groups, strict=True):
      b["lr"] = a["lr"]
  torch_optim.state_to_torch(
    state, moved.opt, scheduler=moved.sched, named_parameters=moved.names()
  )
  for k, (a, b) in enumerate(zip(run.opt.param_groups, moved.opt.param_groups, strict=True)):
    assert a["lr"] == b["lr"], k
  for i, g in enumerate(grads[STEPS_IN_TORCH:], start=STEPS_IN_TORCH):
    run.step(g, i)
    moved.step(g, i)
    assert [g["lr"] for g in run.opt.param_groups] == [g["lr"] for g in moved.opt.param_groups]
  for key, value in run.params().items():
    np.testing.assert_array_equal(moved.params()[key], value)


@pytest.mark.parametrize(("name", "make_opt", "make_sched"), RECIPES, ids=[r[0] for r in RECIPES])
def test_jax_steps_written_back_continue_the_torch_schedule(name, make_opt, make_sched):
  grads = _grads(STEPS_IN_TORCH + 2 * STEPS_AFTER)
  run = Run(make_opt, make_sched)
  for i, g in enumerate(grads[:STEPS_IN_TORCH]):
    run.step(g, i)
  staying = copy.deepcopy(run)
  middle = grads[STEPS_IN_TORCH : STEPS_IN_TORCH + STEPS_AFTER]
  params, state = _continue_in_jax(run, middle, STEPS_IN_TORCH)
  for i, g in enumerate(middle, start=STEPS_IN_TORCH):
    staying.step(g, i)
  with torch.no_grad():
    run.w.copy_(torch.from_numpy(np.array(params["w"])))
    run.b.copy_(torch.from_numpy(np.array(params["b"])))
  torch_optim.state_to_torch(state, run.opt, scheduler=run.sched, named_parameters=run.names())
  assert run.sched.state_dict().keys() == staying.sched.state_dict().keys()
  for i, g in enumerate(grads[STEPS_IN_TORCH + STEPS_AFTER :], start=STEPS_IN_TORCH + STEPS_AFTER):
    assert [g["lr"] for g in run.opt.param_groups] == [g["lr"] for g in staying.opt.param_groups]
    run.step(g, i)
    staying.step(g, i)
  for key, value in staying.params().items():
    np.testing.assert_allclose(run.params()[key], value, rtol=1e-14, atol=1e-15)


def test_each_param_group_is_scheduled_from_its_own_lr():
  run = Run(lambda p: torch.optim.SGD(p, lr=0.1), lambda o: L.StepLR(o, 1, 0.5))
  tx = torch_optim.from_torch(run.opt, scheduler=run.sched, named_parameters=run.names())
  params = jax.tree.map(jnp.asarray, run.params())
  state = tx.init(params)
  ones = jax.tree.map(jnp.ones_like, params)
  for lr_w, lr_b in [(0.1, 0.03), (0.05, 0.015), (0.025, 0.0075)]:
    updates, state = tx.update(ones, state, params)
    w, b = updates["w"], updates["b"]  # pyright: ignore[reportIndexIssue]
    np.testing.assert_allclose(np.asarray(w), -lr_w, rtol=1e-15)
    np.testing.assert_allclose(np.asarray(b), -lr_b, rtol=1e-15)


def _sgd_and_step_lr():
  w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
  opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
  return w, opt, L.StepLR(opt, 2)


def test_a_scheduler_attached_but_not_given_is_refused():
  _, opt, _ = _sgd_and_step_lr()
  with pytest.raises(ValueError, match=r"initial_lr.*pass it as scheduler="):
    torch_optim.from_torch(opt)
  with pytest.raises(ValueError, match="initial_lr"):
    torch_optim.state_to_torch(torch_optim.sgd(lr=0.1, momentum=0.9).init(jnp.zeros(2)), opt)


def test_a_scheduler_of_another_optimizer_is_refused():
  _, opt, _ = _sgd_and_step_lr()
  _, _, other = _sgd_and_step_lr()
  with pytest.raises(ValueError, match="bound to another optimizer"):
    torch_optim.from_torch(opt, scheduler=other)


def test_a_custom_scheduler_is_refused():
  class Halving(L.StepLR):
    pass

  w = torch.zeros(2, requires_grad=True)
  opt = torch.optim.SGD([w], lr=0.1)
  with pytest.raises(ValueError, match="Halving has no twin"):
    torch_optim.from_torch(opt, scheduler=Halving(opt, 2))
  opt = torch.optim.SGD([w], lr=0.1)
  lambda_lr = L.LambdaLR(opt, lambda e: 0.5**e)
  sequential = L.SequentialLR(opt, [lambda_lr, Halving(opt, 2)], milestones=[2])
  with pytest.raises(ValueError, match="Halving has no twin"):
    torch_optim.from_torch(opt, scheduler=sequential)


def test_a_scheduler_stepped_per_epoch_is_refused():
  # Adam keeps a step to check the scheduler against (torch's SGD keeps none).
  w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
  opt = torch.optim.Adam([w], lr=0.1)
  sched = L.StepLR(opt, 2)
  for _ in range(3):  # three optimizer steps, one scheduler step
    w.grad = torch.ones(2, dtype=torch.float64)
    opt.step()
  sched.step()
  with pytest.raises(ValueError, match="stepped 1 times"):
    torch_optim.state_from_torch(opt, jnp.zeros(2), scheduler=sched)


def test_an_lr_changed_by_hand_is_refused():
  w, opt, sched = _sgd_and_step_lr()
  w.grad = torch.ones(2, dtype=torch.float64)
  opt.step()
  sched.step()
  opt.param_groups[0]["lr"] = 0.5
  with pytest.raises(ValueError, match=r"lr is 0\.5, but the twin of StepLR gives 0\.1"):
    torch_optim.state_from_torch(opt, jnp.zeros(2), scheduler=sched)


def test_a_scheduler_ahead_of_the_state_is_refused_and_nothing_is_written():
  w, opt, sched = _sgd_and_step_lr()
  tx = torch_optim.from_torch(opt, scheduler=sched)
  _, state = tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))  # one step
  for _ in range(3):
    w.grad = torch.ones(2, dtype=torch.float64)
    opt.step()
    sched.step()
  before = copy.deepcopy(opt.state_dict()), sched.state_dict()
  with pytest.raises(ValueError, match="already been stepped 3 times"):
    torch_optim.state_to_torch(state, opt, scheduler=sched)
  assert str(opt.state_dict()) == str(before[0]) and sched.state_dict() == before[1]


def test_plateau_with_decoupled_weight_decay_is_refused():
  opt = torch.optim.AdamW([torch.zeros(2, requires_grad=True)])
  with pytest.raises(ValueError, match=r"ReduceLROnPlateau with torch\.optim\.AdamW"):
    torch_optim.from_torch(opt, scheduler=L.ReduceLROnPlateau(opt))
