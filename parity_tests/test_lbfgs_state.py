"""torch.optim.LBFGS's flat state against the twin's, step by step (max_iter=1).

torch keeps LBFGS's state once, on the first parameter, for the flattened vector of all
parameters; the generic runner compares per-parameter state, so the spec
(specs/torch_lbfgs.py) compares displacements only and this module the state.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxopt_fix import torch_optim
from parity_tests import runner
from parity_tests.specs.torch_lbfgs import SPECS
from parity_tests.specs.torch_lbfgs import _GradientLBFGS

_SPEC = SPECS[0]
_STEPS = 200


def _relative(actual: np.ndarray, desired: np.ndarray, scale: float) -> float:
  """max |actual - desired| / scale; exact agreement required where the scale is 0."""
  diff = np.abs(actual - desired).max()
  return float(diff / scale) if scale > 0 else (0.0 if diff == 0 else np.inf)


@pytest.mark.parametrize("config", ["default", "history_3_lr_0.1", "history_1_tolerances"])
@pytest.mark.parametrize("sequence", ["gaussian", "sparse"])
def test_flat_state_matches_torch(config, sequence):
  kwargs = _SPEC.configs[config]
  grads = runner.grads_for(sequence, _STEPS, "float64")
  params0 = runner.initial_params("zeros", "float64")
  tensors = [torch.from_numpy(p.copy()) for p in params0]
  opt = _GradientLBFGS(tensors, **kwargs)
  with jax.enable_x64(True):
    tx = torch_optim.lbfgs(**kwargs)
    state = tx.init([jnp.asarray(p) for p in params0])
    update = jax.jit(tx.update)
    worst = 0.0
    # Per field, the largest magnitude so far (as the runner's state metric: a value that
    # shrinks carries the rounding of its earlier, larger values).
    scales: dict[str, float] = {}
    for t in range(_STEPS):
      for p, g in zip(tensors, grads, strict=True):
        p.grad = torch.from_numpy(g[t].copy())
      opt.step()
      _, state = update([jnp.asarray(g[t]) for g in grads], state)
      ours = jax.tree.map(np.asarray, state)
      theirs = opt.state[tensors[0]]
      assert int(ours.func_evals) == theirs["func_evals"]
      assert int(ours.n_iter) == theirs["n_iter"]
      if theirs["n_iter"] == 0:
        continue
      num_old = len(theirs["old_dirs"])
      assert int(ours.num_old) == num_old
      pairs = {
        "d": (ours.d, theirs["d"].numpy()),
        "t": (ours.t, np.asarray(float(theirs["t"]))),
        "H_diag": (ours.H_diag, np.asarray(float(theirs["H_diag"]))),
        "prev_flat_grad": (ours.prev_flat_grad, theirs["prev_flat_grad"].numpy()),
      }
      if num_old:
        pairs["old_dirs"] = (ours.old_dirs[:num_old], torch.stack(theirs["old_dirs"]).numpy())
        pairs["old_stps"] = (ours.old_stps[:num_old], torch.stack(theirs["old_stps"]).numpy())
        pairs["ro"] = (ours.ro[:num_old], np.array([float(r) for r in theirs["ro"]]))
      for name, (a, d) in pairs.items():
        scales[name] = max(scales.get(name, 0.0), float(np.abs(d).max()))
        worst = max(worst, _relative(a, d, scales[name]))
  assert worst <= 1e-12, worst


def test_from_torch_builds_the_twin_and_state_conversion_is_refused():
  p = torch.zeros(3)
  opt = torch.optim.LBFGS([p], lr=0.5, max_iter=1, history_size=4)
  tx = torch_optim.from_torch(opt)
  updates, _ = tx.update(jnp.ones(3), tx.init(jnp.zeros(3)))
  np.testing.assert_allclose(np.asarray(updates), -0.5 / 3 * np.ones(3), rtol=1e-6)
  with pytest.raises(ValueError, match=r"not supported for torch\.optim\.LBFGS"):
    torch_optim.state_from_torch(opt, jnp.zeros(3))
  with pytest.raises(ValueError, match=r"not supported for torch\.optim\.LBFGS"):
    torch_optim.state_to_torch(tx.init(jnp.zeros(3)), opt)
  with pytest.raises(ValueError, match="max_iter=20 is not supported"):
    torch_optim.from_torch(torch.optim.LBFGS([p]))
