"""verify.compare: twins agree, other algorithms part where they should, bad input is refused."""

import pathlib

import numpy as np
import optax
import pytest
import torch

from jaxopt_fix import torch_optim
from jaxopt_fix import verify

STEPS = 30


def test_twin_agrees_in_both_dtypes():
  result = verify.compare(torch.optim.Adam, kwargs={"lr": 1e-2, "amsgrad": True}, steps=STEPS)
  assert result.agrees, result.report()
  assert result.dtypes == ("float64", "float32")
  assert len(result.comparisons) == 2 * len(verify.SEQUENCES)
  fields = [f.field for f in result.comparisons[0].fields]
  assert fields == ["displacement", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]
  assert "float64: AGREE" in result.report() and "float32: AGREE" in result.report()


def test_optax_amsgrad_parts_at_the_first_step_in_nu_max():
  """optax's maximum of the bias-corrected nu: nu_max = g^2 after one step, torch's
  max_exp_avg_sq = (1 - b2) g^2; the first update is the same, the second is not. In
  float32 the first update already differs by 7e-6: optax rounds 1 - b2^t in float32."""
  result = verify.compare(
    torch.optim.Adam,
    optax.amsgrad(1e-2),
    kwargs={"lr": 1e-2, "amsgrad": True},
    steps=STEPS,
    gradients=["gaussian"],
    tx_name="optax.amsgrad(1e-2)",
  )
  d = result.divergence("float64")
  assert d is not None and (d.step, d.field, d.torch_field) == (1, "nu_max", "max_exp_avg_sq")
  np.testing.assert_allclose(d.error, 1 / (1 - 0.999) - 1, rtol=1e-6)
  for comparison, first_displacement in zip(result.comparisons, [2, 1], strict=True):
    fields = {f.field: f for f in comparison.fields}
    assert fields["displacement"].first_failure == first_displacement
    assert fields["nu_max"].first_failure == 1
    assert fields["mu"].first_failure is None and fields["nu"].first_failure is None
  f32 = result.divergence("float32")
  assert f32 is not None and f32.field == "displacement" and 1e-6 < f32.error < 1e-5
  assert "DISAGREE" in result.report() and "optax.amsgrad(1e-2)" in result.report()


def test_a_wrong_learning_rate_parts_at_step_one():
  result = verify.compare(
    torch.optim.SGD, optax.sgd(0.1 * (1 + 1e-9)), kwargs={"lr": 0.1}, steps=5, dtypes=["float64"]
  )
  d = result.divergence("float64")
  assert d is not None and (d.step, d.field) == (1, "displacement")
  np.testing.assert_allclose(d.error, 1e-9, rtol=1e-3)


def test_a_live_optimizer_with_param_groups_is_rebuilt_not_stepped():
  net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
  opt = torch.optim.AdamW(
    [{"params": [net[0].weight, net[1].weight]}, {"params": [net[0].bias], "lr": 0.1}],
    lr=1e-2,
    weight_decay=0.5,
  )
  before = [p.detach().clone() for p in net.parameters()]
  result = verify.compare(opt, steps=STEPS, gradients=["student_t", "sparse"], initial="normal")
  assert result.agrees, result.report()
  assert "2 param groups" in result.torch_name
  assert not opt.state and all(
    torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True)
  )


def test_your_own_gradients_and_fields():
  grads = {"ramp": np.linspace(-1, 1, 10 * 22).reshape(10, 22)}
  result = verify.compare(
    torch.optim.SGD,
    optax.sgd(0.1, momentum=0.9),
    kwargs={"lr": 0.1, "momentum": 0.9},
    gradients=grads,
    fields={"trace": "momentum_buffer"},
    dtypes=["float64"],
  )
  assert result.steps == 10 and result.agrees, result.report()


def test_plot_writes_a_png(tmp_path: pathlib.Path):
  result = verify.compare(torch.optim.RMSprop, kwargs={"lr": 1e-3}, steps=5, gradients=["scales"])
  result.plot(str(tmp_path / "errors.png"))
  assert (tmp_path / "errors.png").read_bytes()[:4] == b"\x89PNG"


class _MyAdam(torch.optim.Adam):
  pass


@pytest.mark.parametrize(
  ("call", "error", "message"),
  [
    (lambda: verify.compare(_MyAdam, kwargs={"lr": 1e-3}), TypeError, "subclasses"),
    (lambda: verify.compare(torch.optim.Adam, gradients=["uniform"]), ValueError, "uniform"),
    (lambda: verify.compare(torch.optim.Adam, dtypes=["float16"]), ValueError, "float16"),
    (lambda: verify.compare(torch.optim.Adam, steps=0), ValueError, "steps"),
    (
      lambda: verify.compare(torch.optim.Adam, gradients={"g": np.zeros((4, 3))}),
      ValueError,
      r"\(steps, 22\)",
    ),
    (
      lambda: verify.compare(
        torch.optim.SGD, optax.sgd(0.1), kwargs={"lr": 0.1}, fields={"mu": "x"}
      ),
      ValueError,
      "no per-parameter state field 'mu'",
    ),
    (lambda: verify.compare(torch.optim.LBFGS), ValueError, "closure"),
  ],
)
def test_bad_input_is_one_clear_error(call, error, message):
  with pytest.raises(error, match=message):
    call()


def test_the_parity_suite_runs_on_this_runner():
  from jaxopt_fix.verify import _runner
  from parity_tests import runner

  assert runner.run_jax is _runner.run_jax and runner.compare is _runner.field_errors
  assert torch_optim.from_torch  # the default twin comes from the public interop


def test_a_scheduler_is_stepped_on_both_sides():
  def warmup_cosine(opt):
    return torch.optim.lr_scheduler.SequentialLR(
      opt,
      [
        torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=5),
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20),
      ],
      milestones=[5],
    )

  kwargs = {"lr": 1e-2, "weight_decay": 0.1}
  result = verify.compare(
    torch.optim.AdamW, kwargs=kwargs, scheduler=warmup_cosine, steps=STEPS, initial="normal"
  )
  assert result.agrees, result.report()
  assert "with lr_scheduler.sequential_lr (the twin)" in result.jax_name
  unscheduled = verify.compare(
    torch.optim.AdamW,
    torch_optim.adamw(**kwargs),
    kwargs=kwargs,
    scheduler=warmup_cosine,
    steps=STEPS,
    dtypes=["float64"],
    gradients=["gaussian"],
  )
  d = unscheduled.divergence("float64", "displacement")
  assert d is not None and d.step == 1  # the warmup's first lr is 0.1 lr


def test_importing_verify_does_not_import_torch():
  import subprocess
  import sys

  code = "import sys, jaxopt_fix.verify; print('torch' in sys.modules)"
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert out.stdout.strip() == "False"


_NEEDS_MORE = {"LBFGS": "closure", "SparseAdam": "dense gradients"}


@pytest.mark.parametrize("name", torch_optim.supported_optimizers())
def test_every_twin_agrees_through_compare(name):
  """With the twins' measured overrides (verify.TWIN_TOLERANCES), as in the parity suite."""
  cls = getattr(torch.optim, name)
  if name in _NEEDS_MORE:
    with pytest.raises(ValueError, match=_NEEDS_MORE[name]):
      verify.compare(cls, steps=2)
    return
  params = {"a": (4, 5), "b": (3, 3)} if name == "Muon" else None
  result = verify.compare(
    cls, kwargs={"lr": 1e-2}, steps=20, gradients=["sparse", "scales"], params=params
  )
  assert result.agrees, result.report()
