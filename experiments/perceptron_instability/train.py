r"""Adam's loss going back up on an over-parameterised linear least-squares problem.

The problem is the well-known "strange behaviour of Adam when training for too
long" snippet: one linear layer (1000 inputs, 1 output, with bias) fitted to 64
random points, :math:`x, y \sim N(0, 1)`, by the **summed** squared error
:math:`L(W, b) = \sum_i (x_i W^\top + b - y_i)^2`, with ``Adam(lr=1e-3)`` for
5000 steps. With 1001 parameters and 64 equations the minimum is exactly 0.
The loss falls to about 1e-12 (float32's floor) within a few hundred steps and
later climbs back to about 1e-4-1e-3.

The data and the initial weights are generated once, in PyTorch and in the
snippet's order (:func:`make_problem`: ``torch.manual_seed(seed)``, then
``x = torch.randn(64, 1000)``, ``y = torch.randn(64, 1)``, then
``nn.Linear(1000, 1)``), and both frameworks start from them:
:func:`train_torch` is the snippet's eager loop and :func:`train_jax` runs the
same problem with a :mod:`jaxopt_fix.torch_optim` twin (or any optax
transformation), all steps in ONE jit-compiled ``lax.scan``. Both record
``loss[t]``, the loss at the parameters after ``t`` updates (the snippet prints
the loss, then steps), in float32.

The original post (2017, PyTorch 0.2) printed an initial loss of 91.75; today's
``torch.randn`` draws other numbers from the same seed (no order of the three
draws gives 91.75), so the initial loss is 69.63 here. The behaviour is the same:
with ``Adam(lr=1e-3)`` the loss reaches 4.6e-13 (JAX) / 1.0e-12 (torch) near step
360-390, stays at the floor, and from step ~2300 climbs back to 1e-4-1e-3.

Why: near the minimum the gradients are float32 round-off, so Adam's second
moment :math:`\hat v` decays by β2 per step while its step
:math:`\mathrm{lr}\,\hat m / (\sqrt{\hat v} + ε)` does not shrink: the effective
learning rate :math:`\mathrm{lr} / (\sqrt{\hat v} + ε)` grows (up to lr / ε =
1e5). The loss is quadratic, with Hessian eigenvalues up to λ_max ≈ 3028, and
Adam with β1 = 0.9 is stable while the largest eigenvalue of
:math:`\mathrm{diag}(\mathrm{lr} / (\sqrt{\hat v} + ε))\,H` (the preconditioned
sharpness, :func:`adam_sharpness`) is below 2(1 + β1) / (1 - β1) = 38. It
crosses 38 at step 2299; the loss leaves the floor at step 2317, grows until the
gradients are large enough for :math:`\hat v` to bring the sharpness back to 38,
and then hovers there ("edge of stability", Cohen et al. 2022), with a loss
that scales like lr² (median over steps 19,000-20,000 of a 20,000-step run:
1e-3.2 at lr 1e-3, 1e-5.3 at 1e-4, 1e-7.4 at 1e-5). So:

* a smaller lr only delays it (lr 1e-5 has not reached the floor by step 5000;
  it climbs back from step ~14,700);
* eps fixes it only if lr / ε < 38 / λ_max, i.e. ε > 0.08 here
  (:func:`adam_stable_eps`): 1e-4 (and 1e-2) still climb back, 0.1 does not;
* AMSGrad (every variant) keeps the running maximum of v, so the effective
  learning rate never grows; Yogi's v moves by at most (1 - β2) g² per step and
  barely decays once g² ≪ v: neither climbs back;
* SGD has a fixed step: stable iff lr < 2 / λ_max = 6.6e-4 (lr 1e-4 contracts
  every direction by 0.70-0.88 per step).

(The module is over 400 lines because this docstring is the experiment's write-up, with
the measured numbers next to the code that measures them.)

Example:
  >>> problem = make_problem()
  >>> problem.x.shape, problem.y.shape, problem.weight.shape, problem.bias.shape
  ((64, 1000), (64, 1), (1, 1000), (1,))
  >>> jax_losses = train_jax(problem, OPTIMIZERS["adam"].make_jax(), steps=3)
  >>> torch_losses = train_torch(problem, OPTIMIZERS["adam"].make_torch, steps=3)
  >>> [f"{v:.4f}" for v in jax_losses], [f"{v:.4f}" for v in torch_losses]
  (['69.6270', '56.4855', '44.8925'], ['69.6270', '56.4855', '44.8925'])
"""

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

import jaxopt_fix
from jaxopt_fix import torch_optim

SEED = 545345
"""The snippet's seed."""
N_POINTS = 64
N_INPUTS = 1000
DEFAULT_STEPS = 5000
FLOOR = 1e-10
"""Losses below this are float32 round-off (the exact minimum is 0; see :func:`agreement`)."""

TorchMaker = Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]


@dataclasses.dataclass(frozen=True)
class Problem:
  """The data and the initial weights, as float32 numpy arrays (generated in torch)."""

  x: np.ndarray
  y: np.ndarray
  weight: np.ndarray
  bias: np.ndarray
  seed: int


def make_problem(seed: int = SEED) -> Problem:
  """Generates the data and the initial weights in torch, in the snippet's order.

  ``torch.manual_seed(seed)``; ``x = torch.randn(64, 1000)``;
  ``y = torch.randn(64, 1)``; ``nn.Linear(1000, 1)`` (its default init draws the
  weight, then the bias, uniformly in ±1/√1000).

  Args:
    seed: The torch seed.

  Returns:
    The problem, shared by :func:`train_torch` and :func:`train_jax`.
  """
  generator_state = torch.get_rng_state()
  try:
    torch.manual_seed(seed)
    x = torch.randn(N_POINTS, N_INPUTS)
    y = torch.randn(N_POINTS, 1)
    model = torch.nn.Linear(N_INPUTS, 1)
  finally:
    torch.set_rng_state(generator_state)  # Leave the caller's global generator alone.
  with torch.no_grad():
    return Problem(
      x=x.numpy().copy(),
      y=y.numpy().copy(),
      weight=model.weight.numpy().copy(),
      bias=model.bias.numpy().copy(),
      seed=seed,
    )


def train_torch(problem: Problem, make_optimizer: TorchMaker, steps: int) -> np.ndarray:
  """The snippet's eager PyTorch loop; returns ``loss[t]`` for ``t < steps`` (float64 copy).

  Args:
    problem: The data and initial weights.
    make_optimizer: Builds the ``torch.optim`` optimizer from the model's parameters.
    steps: The number of steps.

  Returns:
    The float32 losses, as a float64 array of shape ``(steps,)``.
  """
  model = torch.nn.Linear(N_INPUTS, 1)
  with torch.no_grad():
    model.weight.copy_(torch.from_numpy(problem.weight))
    model.bias.copy_(torch.from_numpy(problem.bias))
  x, y = torch.from_numpy(problem.x), torch.from_numpy(problem.y)
  loss_fn = torch.nn.MSELoss(reduction="sum")
  optimizer = make_optimizer(model.parameters())
  losses = torch.empty(steps, dtype=torch.float32)
  for t in range(steps):
    loss = loss_fn(model(x), y)
    losses[t] = loss.detach()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
  return losses.numpy().astype(np.float64)


def _loss(params: Mapping[str, jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
  residual = x @ params["weight"].T + params["bias"][None, :] - y
  return jnp.sum(residual**2)


@functools.partial(jax.jit, static_argnames=("tx", "steps"))
def _scan(
  tx: optax.GradientTransformation,
  params: dict[str, jax.Array],
  x: jax.Array,
  y: jax.Array,
  steps: int,
) -> jax.Array:
  def step(carry: tuple[Any, Any], _: None) -> tuple[tuple[Any, Any], jax.Array]:
    params, state = carry
    loss, grads = jax.value_and_grad(_loss)(params, x, y)
    updates, state = tx.update(grads, state, params)
    return (optax.apply_updates(params, updates), state), loss

  _, losses = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
  return losses


def train_jax(problem: Problem, tx: optax.GradientTransformation, steps: int) -> np.ndarray:
  """The same training in JAX: ``jax.grad`` of the summed squared error, one compiled scan.

  Args:
    problem: The data and initial weights (float32, like torch's).
    tx: The optimizer, e.g. ``jaxopt_fix.torch_optim.adam(lr=1e-3)``.
    steps: The number of steps.

  Returns:
    The float32 losses, as a float64 array of shape ``(steps,)``.
  """
  params = {"weight": jnp.asarray(problem.weight), "bias": jnp.asarray(problem.bias)}
  losses = _scan(tx, params, jnp.asarray(problem.x), jnp.asarray(problem.y), steps)
  return np.asarray(losses, np.float64)


@dataclasses.dataclass(frozen=True)
class Optimizer:
  """An optimizer of the comparison: its JAX transformation and, if any, torch's equivalent."""

  label: str
  make_jax: Callable[[], optax.GradientTransformation]
  make_torch: TorchMaker | None = None


def _torch_adam(**kwargs: Any) -> TorchMaker:
  return lambda params: torch.optim.Adam(params, **kwargs)


SGD_LR = 1e-4
"""SGD's learning rate: stable, below ``2 / λ_max`` of the Hessian (:func:`hessian_extremes`)."""

OPTIMIZERS: dict[str, Optimizer] = {
  "adam": Optimizer("Adam lr=1e-3 (the snippet)", lambda: torch_optim.adam(lr=1e-3), _torch_adam()),
  "adam_lr1e-5": Optimizer("Adam lr=1e-5", lambda: torch_optim.adam(lr=1e-5), _torch_adam(lr=1e-5)),
  "adam_eps1e-4": Optimizer(
    "Adam eps=1e-4",
    lambda: torch_optim.adam(lr=1e-3, eps=1e-4),
    _torch_adam(lr=1e-3, eps=1e-4),
  ),
  "adam_eps1e-1": Optimizer(
    "Adam eps=0.1",
    lambda: torch_optim.adam(lr=1e-3, eps=0.1),
    _torch_adam(lr=1e-3, eps=0.1),
  ),
  "amsgrad_torch": Optimizer(
    "AMSGrad, torch's (Adam amsgrad=True)",
    lambda: torch_optim.adam(lr=1e-3, amsgrad=True),
    _torch_adam(lr=1e-3, amsgrad=True),
  ),
  "amsgrad_paper": Optimizer("AMSGrad, paper's", lambda: jaxopt_fix.amsgrad(1e-3, variant="paper")),
  "amsgrad_optax": Optimizer("AMSGrad, optax's", lambda: jaxopt_fix.amsgrad(1e-3, variant="optax")),
  "yogi": Optimizer("Yogi (eps=1e-3)", lambda: jaxopt_fix.yogi(1e-3)),
  "sgd": Optimizer(
    f"SGD lr={SGD_LR:g}",
    lambda: torch_optim.sgd(lr=SGD_LR),
    lambda params: torch.optim.SGD(params, lr=SGD_LR),
  ),
}
"""The comparison, by name: lr 1e-3 (but SGD's and ``adam_lr1e-5``), otherwise torch's
defaults (β = (0.9, 0.999), eps 1e-8); AMSGrad and Yogi variants as in :mod:`jaxopt_fix`."""


def hessian_extremes(problem: Problem) -> tuple[float, float]:
  r"""The smallest nonzero and the largest eigenvalue of the loss's (constant) Hessian.

  The loss is :math:`\|A\theta - y\|^2` with :math:`A = [x, 1]` (64 × 1001), whose
  Hessian :math:`H = 2A^\top A` has 64 nonzero eigenvalues, twice those of
  :math:`AA^\top`. Gradient descent with learning rate lr multiplies the
  residual's component along each eigenvector by :math:`1 - \mathrm{lr}\,λ`: it
  is stable iff :math:`\mathrm{lr} < 2 / λ_{\max}`. With momentum as Adam's
  (an EMA with β1) the limit on the effective step is
  :math:`2 (1 + β_1) / ((1 - β_1) λ_{\max})` (38 / λ_max at β1 = 0.9).

  Args:
    problem: The data.

  Returns:
    ``(λ_min, λ_max)`` of H over its nonzero eigenvalues, in float64.
  """
  a = np.concatenate([problem.x, np.ones((N_POINTS, 1), np.float32)], axis=1).astype(np.float64)
  eigenvalues = 2 * np.linalg.eigvalsh(a @ a.T)
  return float(eigenvalues[0]), float(eigenvalues[-1])


def adam_stable_eps(lr: float, lam_max: float, b1: float = 0.9) -> float:
  r"""The eps above which Adam stays stable however small its second moment gets.

  Adam's step on a coordinate is :math:`\mathrm{lr}\,\hat m / (\sqrt{\hat v} + ε)`,
  an effective learning rate of at most lr / ε as :math:`\hat v \to 0`; it is
  stable while that is below :math:`2(1 + β_1) / ((1 - β_1) λ_{\max})`.

  Example:
    >>> round(adam_stable_eps(1e-3, 3800.0), 6)
    0.1
  """
  return lr * lam_max * (1 - b1) / (2 * (1 + b1))


@dataclasses.dataclass(frozen=True)
class Summary:
  """A run's minimum loss and its step, its final loss, and when it climbs back up.

  Attributes:
    min_loss: The minimum loss.
    step_of_min: Its (first) step.
    final_loss: The loss at the last step.
    rebound_step: The first step after the minimum at which the loss is above
      :data:`FLOOR` again, or None.
  """

  min_loss: float
  step_of_min: int
  final_loss: float
  rebound_step: int | None


def summarize(losses: np.ndarray, floor: float = FLOOR) -> Summary:
  """The :class:`Summary` of a run's losses.

  Example:
    >>> summarize(np.array([3.0, 1e-12, 1e-11, 2.0]))
    Summary(min_loss=1e-12, step_of_min=1, final_loss=2.0, rebound_step=3)
  """
  step = int(np.argmin(losses))
  above = np.nonzero(losses[step:] > floor)[0]
  rebound = step + int(above[0]) if above.size else None
  return Summary(float(losses[step]), step, float(losses[-1]), rebound)


@dataclasses.dataclass(frozen=True)
class Agreement:
  """How close two runs' losses are, in |Δ log10 loss|.

  Attributes:
    descent_steps: Steps before either loss first drops to :data:`FLOOR` or below.
    max_delta_descent: The maximum over those steps.
    above_floor_steps: Steps at which both losses are above :data:`FLOOR`.
    max_delta_above_floor: The maximum over those steps (includes the climb back up).
    max_delta_all: The maximum over all steps.
  """

  descent_steps: int
  max_delta_descent: float
  above_floor_steps: int
  max_delta_above_floor: float
  max_delta_all: float


def agreement(a: np.ndarray, b: np.ndarray, floor: float = FLOOR) -> Agreement:
  """The |Δ log10 loss| between two runs, on the descent, above the floor, and everywhere.

  Example:
    >>> a = np.array([1.0, 1e-2, 1e-12, 1e-3])
    >>> b = np.array([1.0, 1e-2 * 1.01, 1e-13, 1e-4])
    >>> result = agreement(a, b)
    >>> result.descent_steps, round(result.max_delta_descent, 5), result.above_floor_steps
    (2, 0.00432, 3)
    >>> result.max_delta_above_floor, result.max_delta_all
    (1.0, 1.0)
  """
  delta = np.abs(np.log10(a) - np.log10(b))
  above = (a > floor) & (b > floor)
  descent = int(np.argmin(above)) if not np.all(above) else len(above)
  return Agreement(
    descent_steps=descent,
    max_delta_descent=float(np.max(delta[:descent], initial=0.0)),
    above_floor_steps=int(np.sum(above)),
    max_delta_above_floor=float(np.max(delta[above], initial=0.0)),
    max_delta_all=float(np.max(delta, initial=0.0)),
  )


EDGE_OF_STABILITY = 38.0
"""Adam's stability limit on the preconditioned sharpness at β1 = 0.9: 2 (1 + β1) / (1 - β1)."""


@functools.partial(jax.jit, static_argnames=("steps",))
def _sharpness_scan(
  params: dict[str, jax.Array],
  x: jax.Array,
  y: jax.Array,
  steps: int,
  lr: float,
  b2: float,
  eps: float,
) -> tuple[jax.Array, jax.Array]:
  tx = torch_optim.adam(lr=lr, betas=(0.9, b2), eps=eps)
  a = jnp.concatenate([x, jnp.ones((x.shape[0], 1), x.dtype)], axis=1)

  def step(carry: tuple[Any, Any, Any], t: jax.Array) -> tuple[tuple[Any, Any, Any], Any]:
    params, state, v = carry
    loss, grads = jax.value_and_grad(_loss)(params, x, y)
    flat = jnp.concatenate([grads["weight"][0], grads["bias"]])
    v = b2 * v + (1 - b2) * flat * flat
    v_hat = v / (1 - b2 ** (t + 1).astype(jnp.float32))
    rates = lr / (jnp.sqrt(v_hat) + eps)
    # The nonzero eigenvalues of diag(rates)^(1/2) H diag(rates)^(1/2), H = 2 AᵀA, are those
    # of 2 A diag(rates) Aᵀ (64 × 64).
    sharpness = jnp.linalg.eigvalsh(2 * (a * rates[None, :]) @ a.T)[-1]
    updates, state = tx.update(grads, state, params)
    return (optax.apply_updates(params, updates), state, v), (loss, sharpness)

  v0 = jnp.zeros(a.shape[1], x.dtype)
  _, (losses, sharpness) = jax.lax.scan(
    step, (params, tx.init(params), v0), jnp.arange(steps, dtype=jnp.int32)
  )
  return losses, sharpness


def adam_sharpness(
  problem: Problem, steps: int, lr: float = 1e-3, b2: float = 0.999, eps: float = 1e-8
) -> tuple[np.ndarray, np.ndarray]:
  r"""Adam's losses and its preconditioned sharpness at every step (β1 = 0.9).

  Adam moves coordinate j with the effective learning rate
  :math:`r_j = \mathrm{lr} / (\sqrt{\hat v_j} + ε)`; on this quadratic loss it is
  stable while the largest eigenvalue of :math:`\mathrm{diag}(r)\,H` stays below
  :data:`EDGE_OF_STABILITY` (Cohen et al., "Adaptive gradient methods at the edge
  of stability", 2022). :math:`\hat v` is the bias-corrected second moment,
  ``v_t = b2 v_{t-1} + (1 - b2) g_t²``, tracked next to the optimizer's own. As the
  gradients shrink to round-off, :math:`\hat v` decays (by b2 per step) and the
  sharpness grows until it crosses the limit: then the loss climbs back up.

  Args:
    problem: The data and initial weights.
    steps: The number of steps.
    lr: Adam's learning rate.
    b2: Adam's β2.
    eps: Adam's eps.

  Returns:
    ``(losses, sharpness)``, float64 arrays of shape ``(steps,)``. ``losses`` are
    those of :func:`train_jax` with ``torch_optim.adam(lr, betas=(0.9, b2), eps)``
    up to float32 rounding (another compiled program rounds differently): the
    same until the loss reaches the floor, then another chaotic path.
  """
  params = {"weight": jnp.asarray(problem.weight), "bias": jnp.asarray(problem.bias)}
  losses, sharpness = _sharpness_scan(
    params, jnp.asarray(problem.x), jnp.asarray(problem.y), steps, lr, b2, eps
  )
  return np.asarray(losses, np.float64), np.asarray(sharpness, np.float64)
