r"""User-facing optimizers: each is ``optax.chain(scale_by_<algo>, learning rate)``."""

from __future__ import annotations

import jax
import optax

from jaxopt_fix._src import eager
from jaxopt_fix._src import transform
from jaxopt_fix._src import validation


def _with_learning_rate(
  scaler: optax.GradientTransformation, learning_rate: optax.ScalarOrSchedule
) -> optax.GradientTransformationExtraArgs:
  validation.check_learning_rate(learning_rate)
  return eager.compiled_when_eager(optax.chain(scaler, optax.scale_by_learning_rate(learning_rate)))


def amsgrad(
  learning_rate: optax.ScalarOrSchedule,
  b1: jax.typing.ArrayLike = 0.9,
  b2: jax.typing.ArrayLike = 0.999,
  eps: jax.typing.ArrayLike = 1e-8,
  eps_root: jax.typing.ArrayLike = 0.0,
  *,
  variant: transform.AmsgradVariant = "torch",
  mu_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""The AMSGrad optimizer, with the semantics of PyTorch, the paper, optax or Keras.

  All variants keep the moments of Adam, starting at zero,

  .. math::

    m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
    v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2,

  and differ in what they take the running maximum of and where they correct
  the bias (:math:`b_{k,t} = 1 - \beta_k^t`, :math:`\alpha` the learning rate):

  ``variant="torch"`` (default), ``torch.optim.Adam(amsgrad=True)``: the maximum
  of the *raw* second moment, corrected afterwards with the current step's
  :math:`b_{2,t}`,

  .. math::

    \hat v^{\max}_t = \max(\hat v^{\max}_{t-1}, v_t), \qquad
    x_{t+1} = x_t - \frac{\alpha}{b_{1,t}} \,
      \frac{m_t}{\sqrt{\hat v^{\max}_t + \epsilon_{root} b_{2,t}} / \sqrt{b_{2,t}} + \epsilon}.

  ``variant="paper"``, Reddi et al., Algorithm 2: the maximum of the raw second
  moment and no bias correction at all (``eps=0`` is the paper's exact update),

  .. math::

    \hat v^{\max}_t = \max(\hat v^{\max}_{t-1}, v_t), \qquad
    x_{t+1} = x_t - \alpha \, \frac{m_t}{\sqrt{\hat v^{\max}_t + \epsilon_{root}} + \epsilon}.

  ``variant="optax"``, ``optax.amsgrad`` (its default flags): the maximum of the
  *bias-corrected* second moment,

  .. math::

    \hat v^{\max}_t = \max(\hat v^{\max}_{t-1}, v_t / b_{2,t}), \qquad
    x_{t+1} = x_t - \frac{\alpha}{b_{1,t}} \,
      \frac{m_t}{\sqrt{\hat v^{\max}_t + \epsilon_{root}} + \epsilon}.

  ``variant="keras"``, Keras / TensorFlow ``Adam(amsgrad=True)`` and labml_nn's
  ``AMSGrad`` (its default ``optimized_update=True``): the maximum of the raw second
  moment, both corrections folded into the step size and :math:`\epsilon` added to the
  *uncorrected* root (the "epsilon hat" of Kingma & Ba, Section 2),

  .. math::

    \hat v^{\max}_t = \max(\hat v^{\max}_{t-1}, v_t), \qquad
    x_{t+1} = x_t - \alpha \, \frac{\sqrt{b_{2,t}}}{b_{1,t}} \,
      \frac{m_t}{\sqrt{\hat v^{\max}_t + \epsilon_{root}} + \epsilon}.

  It is the torch variant with :math:`\epsilon` replaced by
  :math:`\epsilon / \sqrt{b_{2,t}}`: the same up to the size of :math:`\epsilon`
  (labml_nn's default is ``eps=1e-16``).

  The difference is not rounding. Early steps have a tiny :math:`b_{2,t}`, so
  in the optax variant one large early gradient leaves a huge
  :math:`v_t / b_{2,t}` in the maximum for the rest of the run: on Reddi et
  al.'s online problem it takes steps about 5.6 times smaller than torch's for
  the whole run. Conversely the torch variant's effective step size is not
  monotone early on (the maximum can stay constant while :math:`b_{2,t}` grows),
  which the paper's analysis assumes.

  Args:
    learning_rate: A non-negative float or an optax schedule (evaluated at
      count 0 on the first step, as every optax schedule).
    b1: Decay rate of the first moment, in [0, 1).
    b2: Decay rate of the second moment, in [0, 1).
    eps: A small constant added to the denominator outside the square root (as
      in the Adam paper) to avoid dividing by zero; >= 0.
    eps_root: A small constant added inside the square root of the
      bias-corrected second moment; >= 0.
    variant: ``"torch"``, ``"paper"``, ``"optax"`` or ``"keras"``, see above.
    mu_dtype: Optional dtype of the first moment; if ``None`` it is the dtype of
      the params.

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import jaxopt_fix
    >>> def f(x): return jnp.sum(x ** 2)  # simple quadratic function
    >>> solver = jaxopt_fix.amsgrad(learning_rate=0.003)
    >>> params = jnp.array([1., 2., 3.])
    >>> print('Objective function: {:.2E}'.format(f(params)))
    Objective function: 1.40E+01
    >>> opt_state = solver.init(params)
    >>> for _ in range(5):
    ...   grad = jax.grad(f)(params)
    ...   updates, opt_state = solver.update(grad, opt_state, params)
    ...   params = optax.apply_updates(params, updates)
    ...   print('Objective function: {:.2E}'.format(f(params)))
    Objective function: 1.40E+01
    Objective function: 1.39E+01
    Objective function: 1.39E+01
    Objective function: 1.39E+01
    Objective function: 1.38E+01

  References:
    Reddi et al., `On the Convergence of Adam and Beyond
    <https://openreview.net/forum?id=ryQu7f-RZ>`_, ICLR 2018

    PyTorch, `torch.optim.Adam
    <https://pytorch.org/docs/stable/generated/torch.optim.Adam.html>`_
    (the AMSGrad documentation was corrected in pytorch/pytorch#142351)

    optax, `optax.amsgrad
    <https://optax.readthedocs.io/en/latest/api/optimizers.html#optax.amsgrad>`_
    (google-deepmind/optax#1389)

    Keras, `keras.optimizers.Adam
    <https://keras.io/api/optimizers/adam/>`_; labml_nn, `AMSGrad
    <https://nn.labml.ai/optimizers/amsgrad.html>`_

  .. warning::
    Differences from Keras and labml_nn, in the ``"keras"`` variant: the moments are
    updated as torch updates them (``exp_avg.lerp_(g, 1 - b1)``, ``exp_avg_sq.mul_(b2)
    .addcmul_(g, g, value=1 - b2)``); Keras computes ``m + (g - m) * (1 - b1)`` and
    labml_nn ``m * b1 + (1 - b1) * g``, so in float32 the moments differ in the last bits
    (float64 trajectories agree to 1e-15, float32 to 6e-7 relative, measured in the parity
    suite). labml_nn's ``weight_decay`` is not part of this transformation.

  .. warning::
    Differences from PyTorch, in the ``"torch"`` variant: the step count is an
    int32 that stays exact up to 2**31 - 1 and then saturates, while torch's
    ``step`` is a float32 tensor that stops increasing at 2**24 = 16,777,216
    (its bias corrections are then frozen at that step). Bias corrections are
    computed as ``-expm1(t * log(beta))`` in float32 (float64 under x64) with
    ``log(beta)`` taken in float64 on the host; torch computes ``1 - beta**t``
    in Python float64. In float32 the two agree to a few ulps; the remaining
    differences are the order of floating-point operations. Only torch has
    ``maximize``, ``weight_decay`` and ``decoupled_weight_decay``; compose
    ``optax.add_decayed_weights`` before this transformation for torch's L2
    weight decay.

  .. warning::
    Differences from optax: the default variant is ``"torch"``, not optax's
    maximum of the bias-corrected moment; pass ``variant="optax"`` for that.
    No flag combination of ``optax.amsgrad(bias_correction_mu=...,
    bias_correction_nu=...)`` reproduces torch: ``bias_correction_nu=False``
    takes the raw maximum but then never corrects it. optax computes
    ``1 - beta**t`` with beta rounded to float32, off by 6.8e-4 relative at
    b2 = 0.99999 on the first step; this implementation is within 1e-6.

  .. warning::
    Differences from the paper: the paper lets :math:`\beta_1` decay over time
    (its proof needs it; "one typically uses a constant :math:`\beta_{1t}` in
    practice"); here it is constant, and a decaying :math:`\alpha_t = \alpha /
    \sqrt t` is an optax schedule passed as ``learning_rate``. The paper
    projects onto the feasible set in the :math:`\sqrt{\hat V_t}` norm; in one
    dimension (and for boxes) that is plain clipping, applied by the caller.
    With ``eps=0`` a coordinate whose gradients have all been zero divides 0 by
    0, as the paper's formula does.
  """
  return _with_learning_rate(
    transform.scale_by_amsgrad(
      b1=b1, b2=b2, eps=eps, eps_root=eps_root, variant=variant, mu_dtype=mu_dtype
    ),
    learning_rate,
  )


def yogi(
  learning_rate: optax.ScalarOrSchedule,
  b1: jax.typing.ArrayLike = 0.9,
  b2: jax.typing.ArrayLike = 0.999,
  eps: jax.typing.ArrayLike = 1e-3,
  eps_root: jax.typing.ArrayLike = 0.0,
  *,
  initial_accumulator_value: jax.typing.ArrayLike = 1e-6,
  variant: transform.YogiVariant = "torch_optimizer",
) -> optax.GradientTransformationExtraArgs:
  r"""The Yogi optimizer, in the semantics of torch_optimizer, TF Addons, d2l or the paper.

  All variants update the first moment like Adam and the second moment
  additively, so that it cannot grow or shrink faster than :math:`(1-\beta_2)
  g_t^2` per step:

  .. math::

    m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
    v_t = v_{t-1} - (1 - \beta_2) \operatorname{sign}(v_{t-1} - g_t^2) \, g_t^2.

  They differ in the initial accumulators (:math:`v_{init}` is
  ``initial_accumulator_value``) and in the bias correction
  (:math:`b_{k,t} = 1 - \beta_k^t`, :math:`\alpha` the learning rate):

  ``variant="torch_optimizer"`` (default), ``torch_optimizer.Yogi`` and
  ``optax.yogi``: :math:`m_0 = v_0 = v_{init}`, both moments bias-corrected, eps
  after the correction,

  .. math::

    x_{t+1} = x_t - \frac{\alpha}{b_{1,t}} \,
      \frac{m_t}{\sqrt{v_t + \epsilon_{root} b_{2,t}} / \sqrt{b_{2,t}} + \epsilon}.

  ``variant="tfa"``, ``tfa.optimizers.Yogi``: :math:`m_0 = 0`,
  :math:`v_0 = v_{init}`, eps added to the *uncorrected* root (the TensorFlow
  :math:`\hat\epsilon` convention),

  .. math::

    x_{t+1} = x_t - \alpha \frac{\sqrt{b_{2,t}}}{b_{1,t}} \,
      \frac{m_t}{\sqrt{v_t + \epsilon_{root}} + \epsilon}.

  ``variant="d2l"``, Dive into Deep Learning §12.10: :math:`m_0 = v_0 = 0`, then
  the torch_optimizer update above.

  ``variant="paper"``, Zaheer et al.: :math:`m_0 = 0`, :math:`v_0 = v_{init}`,
  no bias correction,

  .. math::

    x_{t+1} = x_t - \alpha \, \frac{m_t}{\sqrt{v_t + \epsilon_{root}} + \epsilon}.

  Args:
    learning_rate: A non-negative float or an optax schedule (evaluated at
      count 0 on the first step, as every optax schedule). Yogi's published
      default is 1e-2.
    b1: Decay rate of the first moment, in [0, 1).
    b2: Rate of the additive second-moment update, in [0, 1).
    eps: A small constant added to the denominator outside the square root;
      >= 0.
    eps_root: A small constant added inside the square root of the
      (bias-corrected) second moment; >= 0.
    initial_accumulator_value: The starting value of the accumulators the
      variant initialises; >= 0.
    variant: ``"torch_optimizer"``, ``"tfa"``, ``"d2l"`` or ``"paper"``, see
      above.

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`.

  Examples:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import jaxopt_fix
    >>> def f(x): return jnp.sum(x ** 2)  # simple quadratic function
    >>> solver = jaxopt_fix.yogi(learning_rate=0.01)
    >>> params = jnp.array([1., 2., 3.])
    >>> print('Objective function: {:.2E}'.format(f(params)))
    Objective function: 1.40E+01
    >>> opt_state = solver.init(params)
    >>> for _ in range(5):
    ...   grad = jax.grad(f)(params)
    ...   updates, opt_state = solver.update(grad, opt_state, params)
    ...   params = optax.apply_updates(params, updates)
    ...   print('Objective function: {:.2E}'.format(f(params)))
    Objective function: 1.39E+01
    Objective function: 1.38E+01
    Objective function: 1.36E+01
    Objective function: 1.35E+01
    Objective function: 1.34E+01

  References:
    Zaheer et al., `Adaptive Methods for Nonconvex Optimization
    <https://papers.nips.cc/paper/2018/hash/90365351ccc7437a1309dc64e4db32a3-Abstract.html>`_,
    NeurIPS 2018

    `torch_optimizer.Yogi
    <https://github.com/jettify/pytorch-optimizer/blob/master/torch_optimizer/yogi.py>`_
    (initialisation discussed in jettify/pytorch-optimizer#77)

    `tfa.optimizers.Yogi
    <https://github.com/tensorflow/addons/blob/master/tensorflow_addons/optimizers/yogi.py>`_

    Zhang et al., `Dive into Deep Learning, §12.10 Adam (Yogi)
    <https://d2l.ai/chapter_optimization/adam.html>`_

  .. warning::
    PyTorch has no Yogi. ``torch_optimizer.Yogi`` initialises *both* moments to
    1e-6, citing TF Addons, but TF Addons initialises only ``v`` (``m`` starts
    at zero) and puts eps on the uncorrected root; the two differ by about 3e-2
    relative after 200 steps. TF Addons' ``l1``/``l2`` proximal terms and its
    ``activation="tanh"`` option are not implemented. The step count is an
    int32 that saturates at 2**31 - 1 (torch_optimizer's is a Python int).

  .. warning::
    Differences from optax: ``optax.yogi`` equals the ``"torch_optimizer"``
    variant but does not expose ``eps_root`` or ``initial_accumulator_value``,
    and computes ``1 - beta**t`` with beta rounded to float32 (6.8e-4 relative
    error at b2 = 0.99999); this implementation is within 1e-6.

  .. warning::
    Differences from the paper: the paper recommends initialising :math:`v_0`
    from the squared gradient at the initial point averaged over a large
    minibatch; pass that value (a scalar) as ``initial_accumulator_value``, or
    replace ``nu`` in the initial state with a per-coordinate estimate.
  """
  return _with_learning_rate(
    transform.scale_by_yogi(
      b1=b1,
      b2=b2,
      eps=eps,
      eps_root=eps_root,
      initial_accumulator_value=initial_accumulator_value,
      variant=variant,
    ),
    learning_rate,
  )
