"""Model level: a torch ``nn.Module`` and a flax module with the same weights, trained side by
side on the same batches, a torch optimizer against its twin.

Layers are matched by kind and order: the i-th torch ``Linear`` with parameters, in
``named_modules()`` order, is the i-th flax ``Dense`` layer (an innermost dict of arrays of
the params), in the natural order of the paths (flax numbers a compact module's auto-named
layers ``Dense_0``, ``Dense_1``, ... in call order). Each pair must have matching leaves and
shapes, or the conversion refuses it, naming both. torch is imported lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
import importlib
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

Params = dict[str, Any]


def _torch() -> Any:
  return importlib.import_module("torch")


# torch module class name -> {torch parameter: (flax leaf, torch -> flax layout)}
_TO_FLAX: Mapping[str, Mapping[str, tuple[str, Callable[[np.ndarray], np.ndarray]]]] = {
  "Linear": {"weight": ("kernel", lambda w: w.T), "bias": ("bias", lambda b: b)},
  "Conv2d": {
    "weight": ("kernel", lambda w: w.transpose(2, 3, 1, 0)),
    "bias": ("bias", lambda b: b),
  },
  "LayerNorm": {"weight": ("scale", lambda w: w), "bias": ("bias", lambda b: b)},
  "Embedding": {"weight": ("embedding", lambda w: w)},
}
_TO_TORCH: Mapping[str, Callable[[np.ndarray], np.ndarray]] = {
  "Linear.weight": lambda k: k.T,
  "Conv2d.weight": lambda k: k.transpose(3, 2, 0, 1),
}


def _flax_layers(params: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Mapping]]:
  """``(path, layer)`` for every innermost dict of arrays, in insertion order."""
  leaves = {k: v for k, v in params.items() if not isinstance(v, Mapping)}
  if leaves:
    yield prefix.rstrip("/"), params
  for key, value in params.items():
    if isinstance(value, Mapping):
      yield from _flax_layers(value, f"{prefix}{key}/")


def _torch_layers(module: Any) -> list[tuple[str, Any]]:
  """The modules that hold parameters directly, in ``named_modules()`` order."""
  layers = []
  for name, m in module.named_modules():
    own = dict(m.named_parameters(recurse=False))
    if not own:
      continue
    kind = type(m).__name__
    if kind not in _TO_FLAX:
      raise ValueError(
        f"torch module {name!r} is a {kind}: the conversion knows {', '.join(_TO_FLAX)}"
      )
    layers.append((name, m))
  return layers


def _flax_kind(layer: Mapping[str, Any]) -> str:
  """The torch layer kind whose parameters a flax layer's leaves are."""
  if "embedding" in layer:
    return "Embedding"
  if "scale" in layer:
    return "LayerNorm"
  if "kernel" in layer:
    return "Conv2d" if np.ndim(layer["kernel"]) == 4 else "Linear"
  return "?"


def _natural(path: str) -> list[Any]:
  """``"Dense_10"`` after ``"Dense_2"``: flax numbers auto-named layers in call order."""
  return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path)]


def _pairs(torch_module: Any, flax_params: Mapping[str, Any]) -> list[tuple[str, Any, str, Any]]:
  """(torch name, torch module, flax path, flax layer) for every layer, matched by kind and
  order: the i-th torch ``Linear`` (``named_modules()`` order) is the i-th flax ``Dense``
  layer in the natural order of the paths."""
  torch_layers = _torch_layers(torch_module)
  flax_layers = sorted(_flax_layers(flax_params), key=lambda item: _natural(item[0]))
  pairs = []
  for kind in dict.fromkeys([type(m).__name__ for _, m in torch_layers] + list(_TO_FLAX)):
    mine = [(n, m) for n, m in torch_layers if type(m).__name__ == kind]
    theirs = [(p, layer) for p, layer in flax_layers if _flax_kind(layer) == kind]
    if len(mine) != len(theirs):
      raise ValueError(
        f"the torch module has {len(mine)} {kind} layers ({', '.join(n for n, _ in mine)}), "
        f"the flax params {len(theirs)} ({', '.join(p for p, _ in theirs)})"
      )
    for (name, m), (path, layer) in zip(mine, theirs, strict=True):
      expected = {_TO_FLAX[kind][p][0] for p, _ in m.named_parameters(recurse=False)}
      if set(layer) != expected:
        raise ValueError(
          f"torch {kind} {name!r} has flax leaves {sorted(expected)}, but flax layer "
          f"{path!r} has {sorted(layer)}"
        )
      pairs.append((name, m, path, layer))
  unknown = [p for p, layer in flax_layers if _flax_kind(layer) == "?"]
  if unknown:
    raise ValueError(f"flax layers {unknown} are of no kind the conversion knows")
  return pairs


def flax_params_from_torch(torch_module: Any, flax_params: Mapping[str, Any]) -> Params:
  """The flax params ``flax_params`` with the weights of ``torch_module``, transposed.

  ``nn.Linear``'s ``weight`` (out, in) becomes ``nn.Dense``'s ``kernel`` (in, out);
  ``nn.Conv2d``'s (out, in, kh, kw) becomes ``nn.Conv``'s (kh, kw, in, out) (the flax module
  then sees NHWC inputs); ``nn.LayerNorm``'s ``weight`` becomes ``scale``; ``nn.Embedding``'s
  ``weight`` becomes ``nn.Embed``'s ``embedding``. Layers are matched by kind and order (torch's
  ``named_modules()``; flax's paths in natural order, ``Dense_2`` before ``Dense_10``) and
  checked by shape.

  Args:
    torch_module: A ``torch.nn.Module`` built of those four layer kinds (and parameterless
      ones).
    flax_params: The flax module's params (``module.init(key, x)["params"]``), for their
      structure and dtypes.

  Returns:
    A params dict of ``flax_params``'s structure and dtypes, holding torch's weights.

  Raises:
    ValueError: for a layer kind without a conversion, a different number of layers, or
      a layer whose leaves or shapes do not match, naming both sides.

  .. warning::
    Only the weights are converted, not hyperparameters: torch's ``LayerNorm`` has
    ``eps=1e-5``, flax's ``epsilon=1e-6``; pass ``epsilon=1e-5`` to the flax module.

  Examples:
    >>> import flax.linen as nn
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import torch
    >>> from jaxopt_fix import verify
    >>> net = torch.nn.Linear(3, 2)
    >>> params = nn.Dense(2).init(jax.random.key(0), jnp.zeros(3))["params"]
    >>> params = verify.flax_params_from_torch(net, params)
    >>> bool(jnp.all(params["kernel"] == net.weight.detach().numpy().T))
    True
  """
  out = jax.tree.map(lambda x: x, dict(flax_params))
  for name, m, path, layer in _pairs(torch_module, flax_params):
    target = out
    for key in path.split("/") if path else []:
      target[key] = dict(target[key])
      target = target[key]
    for p_name, p in m.named_parameters(recurse=False):
      leaf, convert = _TO_FLAX[type(m).__name__][p_name]
      value = convert(p.detach().cpu().numpy())
      if value.shape != tuple(np.shape(layer[leaf])):
        raise ValueError(
          f"torch {name!r}.{p_name} {tuple(p.shape)} becomes {value.shape}, but flax "
          f"{path!r}/{leaf} is {tuple(np.shape(layer[leaf]))}"
        )
      target[leaf] = jnp.asarray(value, dtype=jnp.asarray(layer[leaf]).dtype)
  return out


def torch_params_from_flax(flax_params: Mapping[str, Any], torch_module: Any) -> None:
  """Copies flax params into ``torch_module``'s parameters, in place (the inverse of
  :func:`flax_params_from_torch`).

  Args:
    flax_params: Params whose layers match ``torch_module``'s, as for
      :func:`flax_params_from_torch`.
    torch_module: The ``torch.nn.Module`` to overwrite.

  Raises:
    ValueError: as :func:`flax_params_from_torch`.

  Examples:
    >>> import numpy as np
    >>> import torch
    >>> from jaxopt_fix import verify
    >>> net = torch.nn.Linear(3, 2)
    >>> verify.torch_params_from_flax({"kernel": np.ones((3, 2)), "bias": np.zeros(2)}, net)
    >>> net.weight.detach().numpy().shape, float(net.weight.detach().sum())
    ((2, 3), 6.0)
  """
  torch = _torch()
  with torch.no_grad():
    for name, m, path, layer in _pairs(torch_module, flax_params):
      for p_name, p in m.named_parameters(recurse=False):
        leaf = _TO_FLAX[type(m).__name__][p_name][0]
        convert = _TO_TORCH.get(f"{type(m).__name__}.{p_name}", lambda x: x)
        value = convert(np.array(layer[leaf]))
        if value.shape != tuple(p.shape):
          raise ValueError(
            f"flax {path!r}/{leaf} becomes {value.shape}, but torch {name!r}.{p_name} is "
            f"{tuple(p.shape)}"
          )
        p.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(p.dtype))


@dataclasses.dataclass(frozen=True)
class SideBySide:
  """What :func:`train_side_by_side` measured, step by step.

  Attributes:
    dtype: The parameters' dtype.
    torch_loss: ``(steps,)`` torch's loss at each step (before its update).
    jax_loss: ``(steps,)`` the flax model's.
    layer_errors: Per flax layer path, ``(steps,)`` ``max |Δp| / max |p|`` over its
      leaves after each step.
    rtol: The relative difference at which a layer counts as parted.

  Examples:
    >>> import numpy as np
    >>> from jaxopt_fix import verify
    >>> r = verify.SideBySide("float64", np.ones(3), np.ones(3),
    ...                       {"Dense_0": np.array([1e-16, 1e-9, 1e-3])}, 1e-10)
    >>> r.first_divergence
    (2, 'Dense_0', 1e-09)
  """

  dtype: str
  torch_loss: np.ndarray
  jax_loss: np.ndarray
  layer_errors: Mapping[str, np.ndarray]
  rtol: float

  @property
  def steps(self) -> int:
    """The number of steps."""
    return len(self.torch_loss)

  @property
  def loss_errors(self) -> np.ndarray:
    """``(steps,)`` ``|Δloss| / |torch loss|``."""
    return np.abs(self.jax_loss - self.torch_loss) / np.abs(self.torch_loss)

  @property
  def worst(self) -> float:
    """The largest layer error over the steps and layers."""
    return max(float(np.max(e, initial=0.0)) for e in self.layer_errors.values())

  @property
  def first_divergence(self) -> tuple[int, str, float] | None:
    """``(step, layer, error)`` at the first step (1-based) some layer's error exceeds
    :attr:`rtol` (the layer with the largest error then), or None."""
    table = np.stack(list(self.layer_errors.values()), axis=1)
    bad = np.flatnonzero(~(table <= self.rtol).all(axis=1))
    if not bad.size:
      return None
    t = int(bad[0])
    i = int(np.nanargmax(np.where(np.isnan(table[t]), np.inf, table[t])))
    return t + 1, list(self.layer_errors)[i], float(table[t, i])

  @property
  def agrees(self) -> bool:
    """Whether every layer stays within :attr:`rtol` at every step."""
    return self.first_divergence is None

  def report(self) -> str:
    """Per layer, the worst and the final relative parameter difference; the loss; where
    the two first part."""
    rows = [("layer", "worst", "final")]
    for name, e in self.layer_errors.items():
      rows.append((name, f"{np.max(e):.1e}", f"{e[-1]:.1e}"))
    rows.append(("loss", f"{np.max(self.loss_errors):.1e}", f"{self.loss_errors[-1]:.1e}"))
    widths = [max(len(r[k]) for r in rows) for k in range(3)]
    lines = [f"{self.steps} steps, {self.dtype}, final loss {self.torch_loss[-1]:.6g} (torch)"]
    lines += [
      ("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True))).rstrip() for r in rows
    ]
    d = self.first_divergence
    lines.append(
      f"  AGREE within {self.rtol:.0e}"
      if d is None
      else f"  parts at step {d[0]} in {d[1]}: {d[2]:.1e} > {self.rtol:.0e}"
    )
    return "\n".join(lines)

  def plot(self, path: str) -> None:
    """Writes a PNG of every layer's and the loss's relative difference against the step.
    Needs matplotlib."""
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")
    fig, ax = plt.subplots(figsize=(6, 4))
    steps = np.arange(1, self.steps + 1)
    for name, e in self.layer_errors.items():
      ax.semilogy(steps, np.maximum(e, 1e-20), label=name)
    ax.semilogy(steps, np.maximum(self.loss_errors, 1e-20), "k--", label="loss")
    ax.axhline(self.rtol, color="grey", linestyle=":", linewidth=0.8)
    ax.set(xlabel="step", ylabel="relative difference", title=f"torch vs flax, {self.dtype}")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


RTOL: Mapping[str, float] = {"float64": 1e-10, "float32": 1e-4}
""":func:`train_side_by_side`'s default ``rtol``. Each framework differentiates its own model,
so the gradients differ in their last bits (the matmuls' and convolutions' summation
orders); a working pair of optimizers keeps that at round-off. Measured over 100 steps of
``Adam(lr=1e-2, amsgrad=True)`` on the digits MLP [64, 32, 10] and a one-convolution CNN: at
most 3.6e-14 of a layer's largest weight in float64, 4.5e-6 in float32, where the round-off
grows with training (by chaos, eventually without bound: a long float32 run parts for good
reasons, see ``first_divergence``)."""


def _loss_pair(loss: str | tuple[Callable, Callable]) -> tuple[Callable, Callable]:
  if not isinstance(loss, str):
    return loss
  torch = _torch()
  if loss == "cross_entropy":
    return (
      lambda out, y: torch.nn.functional.cross_entropy(out, y.long()),
      lambda out, y: optax.softmax_cross_entropy_with_integer_labels(out, y).mean(),
    )
  if loss == "mse":
    return (lambda out, y: torch.mean((out - y) ** 2), lambda out, y: jnp.mean((out - y) ** 2))
  raise ValueError(f"loss must be 'cross_entropy', 'mse' or a pair of functions, got {loss!r}")


def _layer_errors(
  jax_layers: Mapping[str, Mapping[str, np.ndarray]],
  torch_layers: Sequence[Mapping[str, Mapping[str, np.ndarray]]],
) -> dict[str, np.ndarray]:
  """Per layer path, ``max |Δp| / max |p_torch|`` over its leaves at each step."""
  errors = {}
  for path, history in jax_layers.items():
    per_step = []
    for t, step in enumerate(torch_layers):
      desired = {k: np.asarray(v, np.float64) for k, v in step[path].items()}
      scale = max(float(np.max(np.abs(v), initial=0.0)) for v in desired.values())
      diff = max(
        float(np.max(np.abs(np.asarray(history[k][t], np.float64) - v), initial=0.0))
        for k, v in desired.items()
      )
      per_step.append(diff / scale if scale > 0 else (np.inf if diff > 0 else 0.0))
    errors[path] = np.asarray(per_step)
  return errors


def train_side_by_side(
  torch_model: Any,
  flax_model: Any,
  torch_optimizer: Any,
  batches: Sequence[tuple[np.ndarray, np.ndarray]],
  *,
  loss: str | tuple[Callable, Callable] = "cross_entropy",
  tx: optax.GradientTransformation | None = None,
  rtol: float | None = None,
) -> SideBySide:
  """Trains a torch model and a flax model from the same weights on the same batches, a torch
  optimizer against its twin, and compares the loss and every layer after every step.

  The flax params are ``torch_model``'s weights (:func:`flax_params_from_torch`); the JAX
  side runs all steps in one compiled ``lax.scan`` with the twin
  (``jaxopt_fix.torch_optim.from_torch(torch_optimizer)``) or ``tx``, the torch side an eager
  loop that steps ``torch_model`` and ``torch_optimizer`` in place. Both see the same input
  arrays: a flax module that needs another layout (NHWC convolutions) transposes inside.

  Args:
    torch_model: A ``torch.nn.Module`` of ``Linear``, ``Conv2d``, ``LayerNorm`` and
      ``Embedding`` layers (and parameterless ones), in float32 or float64.
    flax_model: The flax ``linen`` module computing the same function.
    torch_optimizer: A ``torch.optim`` optimizer over ``torch_model.parameters()``, one
      param group.
    batches: ``(inputs, targets)`` numpy arrays per step, all of one shape.
    loss: ``"cross_entropy"`` (logits, integer labels, mean), ``"mse"``, or a pair
      ``(torch_fn, jax_fn)`` of ``(outputs, targets) -> scalar``.
    tx: The optax transformation; by default the twin.
    rtol: Relative parameter difference at which a layer counts as parted; by default
      :data:`RTOL` of the dtype.

  Returns:
    A :class:`SideBySide` with per-step losses and layer differences, and the first step
    and layer where the two part.

  Raises:
    TypeError: for an optimizer without a twin (when ``tx`` is None).
    ValueError: for layers that do not match, several param groups, or mixed dtypes.

  Examples:
    >>> import flax.linen as nn
    >>> import numpy as np
    >>> import torch
    >>> from jaxopt_fix import verify
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Linear(4, 3, dtype=torch.float64)
    >>> opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    >>> rng = np.random.default_rng(0)
    >>> batches = [(rng.standard_normal((8, 4)), rng.integers(0, 3, 8)) for _ in range(20)]
    >>> flax_net = nn.Dense(3, param_dtype="float64", dtype="float64")
    >>> result = verify.train_side_by_side(net, flax_net, opt, batches)
    >>> result.agrees, result.worst < 1e-13
    (True, True)
  """
  torch = _torch()
  dtypes = {p.dtype for p in torch_model.parameters()}
  if len(dtypes) != 1 or next(iter(dtypes)) not in (torch.float32, torch.float64):
    raise ValueError(f"torch_model: expected float32 or float64 parameters, got {dtypes}")
  dtype = "float64" if next(iter(dtypes)) == torch.float64 else "float32"
  if len(torch_optimizer.param_groups) != 1:
    raise ValueError("torch_optimizer: one param group (several are not matched to flax layers)")
  if not batches:
    raise ValueError("batches: at least one (inputs, targets) pair")
  torch_loss_fn, jax_loss_fn = _loss_pair(loss)
  rtol = RTOL[dtype] if rtol is None else rtol
  np_dtype = np.float64 if dtype == "float64" else np.float32
  xs = np.stack([np.asarray(x) for x, _ in batches])
  ys = np.stack([np.asarray(y) for _, y in batches])
  xs, ys = (a.astype(np_dtype) if a.dtype.kind == "f" else a for a in (xs, ys))

  with jax.enable_x64(dtype == "float64"):
    template = jax.jit(flax_model.init)(jax.random.key(0), jnp.asarray(xs[0]))["params"]
    pairs = _pairs(torch_model, template)
    params = flax_params_from_torch(torch_model, template)
    opt_tx = tx
    if opt_tx is None:
      opt_tx = importlib.import_module("jaxopt_fix.torch_optim").from_torch(torch_optimizer)

    def loss_of(p, x, y):
      return jax_loss_fn(flax_model.apply({"params": p}, x), y)

    @jax.jit
    def train(params, xs, ys):
      def step(carry, batch):
        params, state = carry
        value, grads = jax.value_and_grad(loss_of)(params, *batch)
        updates, state = opt_tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        return (params, state), (value, params)

      _, history = jax.lax.scan(step, (params, opt_tx.init(params)), (xs, ys))
      return history

    jax_loss, jax_hist = jax.tree.map(np.asarray, train(params, jnp.asarray(xs), jnp.asarray(ys)))

  torch_loss, torch_hist = [], []
  for x, y in zip(xs, ys, strict=True):
    torch_optimizer.zero_grad()
    value = torch_loss_fn(torch_model(torch.from_numpy(x)), torch.from_numpy(y))
    value.backward()
    torch_optimizer.step()
    torch_loss.append(float(value.detach()))
    torch_hist.append(
      {
        path: {
          _TO_FLAX[type(m).__name__][n][0]: _TO_FLAX[type(m).__name__][n][1](
            p.detach().numpy().copy()
          )
          for n, p in m.named_parameters(recurse=False)
        }
        for _, m, path, _ in pairs
      }
    )
  errors = _layer_errors({path: _get(jax_hist, path) for _, _, path, _ in pairs}, torch_hist)
  return SideBySide(dtype, np.asarray(torch_loss), np.asarray(jax_loss, np.float64), errors, rtol)


def _get(tree: Mapping[str, Any], path: str) -> Any:
  for key in path.split("/") if path else []:
    tree = tree[key]
  return tree
