"""Torch-exact JAX twins of ``torch.optim``: ``torch.optim.X(params, **kw)`` becomes
``jaxopt_fix.torch_optim.x(**kw)``, with the same keywords, defaults and trajectory.

Each twin is an ``optax.chain`` whose state fields carry torch's state keys (``step``,
``exp_avg``, ...). ``import jaxopt_fix.torch_optim`` does not import torch.
"""

from jaxopt_fix.torch_optim._adadelta import ScaleByTorchAdadeltaState
from jaxopt_fix.torch_optim._adadelta import adadelta
from jaxopt_fix.torch_optim._adadelta import scale_by_torch_adadelta
from jaxopt_fix.torch_optim._adafactor import ScaleByTorchAdafactorState
from jaxopt_fix.torch_optim._adafactor import adafactor
from jaxopt_fix.torch_optim._adafactor import scale_by_torch_adafactor
from jaxopt_fix.torch_optim._adagrad import ScaleByTorchAdagradState
from jaxopt_fix.torch_optim._adagrad import adagrad
from jaxopt_fix.torch_optim._adagrad import scale_by_torch_adagrad
from jaxopt_fix.torch_optim._adam import ScaleByTorchAdamState
from jaxopt_fix.torch_optim._adam import adam
from jaxopt_fix.torch_optim._adam import adamw
from jaxopt_fix.torch_optim._adam import scale_by_torch_adam
from jaxopt_fix.torch_optim._adamax import ScaleByTorchAdamaxState
from jaxopt_fix.torch_optim._adamax import adamax
from jaxopt_fix.torch_optim._adamax import scale_by_torch_adamax
from jaxopt_fix.torch_optim._asgd import ScaleByTorchASGDState
from jaxopt_fix.torch_optim._asgd import asgd
from jaxopt_fix.torch_optim._asgd import scale_by_torch_asgd
from jaxopt_fix.torch_optim._from_torch import from_torch
from jaxopt_fix.torch_optim._from_torch import param_labels
from jaxopt_fix.torch_optim._from_torch import supported_optimizers
from jaxopt_fix.torch_optim._lbfgs import ScaleByTorchLBFGSState
from jaxopt_fix.torch_optim._lbfgs import lbfgs
from jaxopt_fix.torch_optim._lbfgs import scale_by_torch_lbfgs
from jaxopt_fix.torch_optim._muon import ScaleByTorchMuonState
from jaxopt_fix.torch_optim._muon import muon
from jaxopt_fix.torch_optim._muon import scale_by_torch_muon
from jaxopt_fix.torch_optim._nadam import ScaleByTorchNAdamState
from jaxopt_fix.torch_optim._nadam import nadam
from jaxopt_fix.torch_optim._nadam import scale_by_torch_nadam
from jaxopt_fix.torch_optim._radam import ScaleByTorchRAdamState
from jaxopt_fix.torch_optim._radam import radam
from jaxopt_fix.torch_optim._radam import scale_by_torch_radam
from jaxopt_fix.torch_optim._registry import TWINS
from jaxopt_fix.torch_optim._registry import Twin
from jaxopt_fix.torch_optim._rmsprop import ScaleByTorchRMSpropState
from jaxopt_fix.torch_optim._rmsprop import rmsprop
from jaxopt_fix.torch_optim._rmsprop import scale_by_torch_rmsprop
from jaxopt_fix.torch_optim._rprop import ScaleByTorchRpropState
from jaxopt_fix.torch_optim._rprop import rprop
from jaxopt_fix.torch_optim._rprop import scale_by_torch_rprop
from jaxopt_fix.torch_optim._sgd import ScaleByTorchSGDState
from jaxopt_fix.torch_optim._sgd import scale_by_torch_sgd
from jaxopt_fix.torch_optim._sgd import sgd
from jaxopt_fix.torch_optim._sparse_adam import ScaleByTorchSparseAdamState
from jaxopt_fix.torch_optim._sparse_adam import scale_by_torch_sparse_adam
from jaxopt_fix.torch_optim._sparse_adam import sparse_adam
from jaxopt_fix.torch_optim._state_from_torch import state_from_torch
from jaxopt_fix.torch_optim._state_to_torch import state_to_torch

__all__ = (
  "TWINS",
  "ScaleByTorchASGDState",
  "ScaleByTorchAdadeltaState",
  "ScaleByTorchAdafactorState",
  "ScaleByTorchAdagradState",
  "ScaleByTorchAdamState",
  "ScaleByTorchAdamaxState",
  "ScaleByTorchLBFGSState",
  "ScaleByTorchMuonState",
  "ScaleByTorchNAdamState",
  "ScaleByTorchRAdamState",
  "ScaleByTorchRMSpropState",
  "ScaleByTorchRpropState",
  "ScaleByTorchSGDState",
  "ScaleByTorchSparseAdamState",
  "Twin",
  "adadelta",
  "adafactor",
  "adagrad",
  "adam",
  "adamax",
  "adamw",
  "asgd",
  "from_torch",
  "lbfgs",
  "muon",
  "nadam",
  "param_labels",
  "radam",
  "rmsprop",
  "rprop",
  "scale_by_torch_adadelta",
  "scale_by_torch_adafactor",
  "scale_by_torch_adagrad",
  "scale_by_torch_adam",
  "scale_by_torch_adamax",
  "scale_by_torch_asgd",
  "scale_by_torch_lbfgs",
  "scale_by_torch_muon",
  "scale_by_torch_nadam",
  "scale_by_torch_radam",
  "scale_by_torch_rmsprop",
  "scale_by_torch_rprop",
  "scale_by_torch_sgd",
  "scale_by_torch_sparse_adam",
  "sgd",
  "sparse_adam",
  "state_from_torch",
  "state_to_torch",
  "supported_optimizers",
)
