"""python -m jaxopt_fix.verify: exit 0 on agreement, 1 on disagreement, 2 on bad input."""

import pytest

from jaxopt_fix.verify import _cli
from jaxopt_fix.verify import _expressions

SHORT = ["--steps", "20", "--gradients", "gaussian"]


def test_a_twin_agrees(capsys):
  assert _cli.main(["torch.optim.Adam(lr=1e-2, amsgrad=True)", *SHORT]) == _cli.AGREE
  out = capsys.readouterr().out
  assert "float64: AGREE" in out and "float32: AGREE" in out
  assert "jaxopt_fix.torch_optim.adam (the twin)" in out


def test_optax_amsgrad_disagrees_and_says_where(capsys):
  argv = ["torch.optim.Adam(lr=1e-2, amsgrad=True)", "--against", "optax.amsgrad(1e-2)", *SHORT]
  assert _cli.main([*argv, "--dtype", "float64"]) == _cli.DISAGREE
  out = capsys.readouterr().out
  assert "float64: DISAGREE, first at step 1 of gaussian, nu_max/max_exp_avg_sq" in out
  assert "float64: the parameters part at step 2 of gaussian" in out
  assert "float32" not in out


def test_positional_arguments_bind_like_torch(capsys):
  assert _cli.main(["torch.optim.SGD(0.1, 0.9)", *SHORT, "--dtype", "float64"]) == _cli.AGREE
  assert "torch.optim.SGD(lr=0.1, momentum=0.9)" in capsys.readouterr().out


def test_a_scheduler_from_the_command_line(capsys):
  sched = "torch.optim.lr_scheduler.StepLR(3, gamma=0.5)"
  argv = ["torch.optim.SGD(lr=0.1, momentum=0.9)", "--scheduler", sched, *SHORT]
  assert _cli.main(argv) == _cli.AGREE
  assert "sgd with lr_scheduler.step_lr (the twin)" in capsys.readouterr().out
  unscheduled = ["--against", "jaxopt_fix.torch_optim.sgd(lr=0.1, momentum=0.9)"]
  assert _cli.main([*argv, *unscheduled]) == _cli.DISAGREE


def test_a_chain_of_optax_calls_evaluates():
  tx = _expressions.transformation("optax.chain(optax.scale_by_adam(b1=0.5), optax.scale(-1e-3))")
  assert hasattr(tx, "init") and hasattr(tx, "update")


@pytest.mark.parametrize(
  ("argv", "message"),
  [
    (["mymodule.MyAdam(lr=1e-3)"], "'mymodule.MyAdam' is not under torch.optim, optax, jaxopt_fix"),
    (["torch.optim.Optimizer"], "base class"),
    (["torch.optim.Adam(lr=)"], "is not an expression"),
    (["__import__('os').system('true')"], "is not a name under"),
    (["torch.optim.Adam(lr=1e-3).__class__"], "is not a name under"),
    (["torch.optim._functional.adam"], "private names"),
    (["torch.optim.Adam(lr=-1.0)"], "Invalid learning rate"),
    (["torch.optim.Adam(lr=1e-3, foo=1)"], "foo"),
    (["torch.optim.Adam", "--against", "optax.adam(lr=1e-3, nope=2)"], "nope"),
    (["torch.optim.Adam", "--against", "optax.tree.zeros_like"], "not an optax Gradient"),
    (["torch.optim.Adam", "--against", "jaxopt_fix.amsgrad(1e-3) + 1"], "not a literal"),
    (["torch.optim.Adam", "--steps", "0"], "positive integer"),
    (["torch.optim.Adam", "--dtype", "float16"], "invalid choice"),
    (["torch.optim.LBFGS"], "closure"),
    (["torch.optim.Adam", "--scheduler", "torch.optim.Adam(lr=1e-3)"], "not a torch.optim.lr_s"),
    (
      ["torch.optim.Adam", "--scheduler", "torch.optim.lr_scheduler.ReduceLROnPlateau()"],
      "metric",
    ),
    (["torch.optim.Adam", "--scheduler", "torch.optim.lr_scheduler.StepLR()"], "step_size"),
  ],
)
def test_bad_input_is_one_line_and_status_2(capsys, argv, message):
  try:
    status = _cli.main(argv)
  except SystemExit as e:
    status = e.code
  assert status == _cli.BAD_INPUT
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "Traceback" not in err, err
  assert message in err, err
