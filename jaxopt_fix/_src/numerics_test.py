"""Tests for :mod:`jaxopt_fix._src.numerics`."""

import decimal

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_fix
from jaxopt_fix._src import numerics
import jaxopt_fix.torch_optim

_DECAYS = [0.0, 0.5, 0.9, 0.999, 0.99999, 0.9999999]
_COUNTS = [1, 2, 10, 1000, 2**24, 2**31 - 1]


def _reference(decay: float, count: int) -> float:
  """``1 - decay**count`` for the float64 ``decay``, to 50 significant digits.

  ``decimal.Decimal(decay)`` is the exact value of the double, and an integer
  power at 60 digits loses nothing that matters in float64; no logarithm or
  ``expm1`` is involved, so the reference shares no formula with the code.
  """
  with decimal.localcontext() as context:
    context.prec = 60
    return float(1 - decimal.Decimal(decay) ** count)


def _relative_error(actual, expected: float) -> float:
  return abs(float(actual) - expected) / abs(expected)


@pytest.mark.parametrize("count", _COUNTS)
@pytest.mark.parametrize("decay", _DECAYS)
def test_float32(decay, count):
  result = numerics.one_minus_power(decay, jnp.asarray(count, jnp.int32))
  assert result.dtype == jnp.float32
  assert result.shape == ()
  assert _relative_error(result, _reference(decay, count)) < 1e-6


@pytest.mark.parametrize("count", _COUNTS)
@pytest.mark.parametrize("decay", _DECAYS)
def test_float64(decay, count):
  with jax.enable_x64(True):
    result = numerics.one_minus_power(decay, jnp.asarray(count, jnp.int32))
    assert result.dtype == jnp.float64
  assert _relative_error(result, _reference(decay, count)) < 1e-14


def test_naive_float32_formula_is_inaccurate():
  # What the tests above guard against: optax's 1 - float32(b)**t.
  naive = 1 - jnp.float32(0.99999) ** jnp.asarray(1, jnp.int32)
  assert _relative_error(naive, _reference(0.99999, 1)) > 1e-4


@pytest.mark.parametrize("count", _COUNTS)
@pytest.mark.parametrize("decay", _DECAYS)
def test_traced_decay_float32(decay, count):
  decay32 = np.float32(decay)
  result = jax.jit(numerics.one_minus_power)(decay32, jnp.asarray(count, jnp.int32))
  assert result.dtype == jnp.float32
  # A traced decay is used at the precision of its array: the reference is
  # taken at float32(decay), the value the function actually receives.
  assert _relative_error(result, _reference(float(decay32), count)) < 1e-6


@pytest.mark.parametrize("count", _COUNTS)
@pytest.mark.parametrize("decay", _DECAYS)
def test_traced_decay_float64(decay, count):
  with jax.enable_x64(True):
    result = jax.jit(numerics.one_minus_power)(
      jnp.asarray(decay, jnp.float64), jnp.asarray(count, jnp.int32)
    )
    assert result.dtype == jnp.float64
  assert _relative_error(result, _reference(decay, count)) < 1e-14


def test_traced_decay_under_vmap():
  decays = np.array([0.0, 0.5, 0.9, 0.999], np.float32)
  result = jax.vmap(numerics.one_minus_power, in_axes=(0, None))(decays, jnp.asarray(10, jnp.int32))
  assert result.shape == (4,)
  expected = [_reference(float(d), 10) for d in decays]
  np.testing.assert_allclose(result, expected, rtol=1e-6)


def test_concrete_array_decay():
  # The docstring accepts a concrete array and promises a result of its shape.
  decays = np.array([0.5, 0.9, 0.999])
  result = numerics.one_minus_power(decays, jnp.asarray(3, jnp.int32))
  assert result.shape == (3,)
  np.testing.assert_allclose(result, [_reference(float(d), 3) for d in decays], rtol=1e-6)


@pytest.mark.parametrize("count", _COUNTS)
def test_zero_decay_gives_exactly_one(count):
  count = jnp.asarray(count, jnp.int32)
  assert float(numerics.one_minus_power(0.0, count)) == 1.0
  assert float(numerics.one_minus_power(0, count)) == 1.0
  assert float(jax.jit(numerics.one_minus_power)(jnp.float32(0.0), count)) == 1.0
  with jax.enable_x64(True):
    assert float(numerics.one_minus_power(0.0, count)) == 1.0
    assert float(jax.jit(numerics.one_minus_power)(jnp.float64(0.0), count)) == 1.0


# The saturation shortcut: from numerics.saturation_step on, one_minus_power returns 1
# without computing expm1. These tests prove it returns the plain formula's bits.

_SATURATION_DECAYS = [0.0, 1e-30, 0.5, 0.9, 0.99, 0.999, 0.99999, 0.9999999]
_INT32_MAX = 2**31 - 1


def _plain(decay: float, count):
  """The formula before the shortcut: ``-expm1(count * log(decay))``, log in float64."""
  dtype = numerics.compute_dtype()
  with np.errstate(divide="ignore"):
    log_beta = np.log(np.float64(decay))
  return -jnp.expm1(jnp.asarray(count, dtype) * jnp.asarray(log_beta, dtype))


def _bits(x) -> np.ndarray:
  x = np.asarray(x)
  return x.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[x.dtype.itemsize])


def _saturation(decay: float) -> int:
  step = numerics.saturation_step(
    numerics.log_decay(decay), numerics.compute_dtype(), np.dtype(np.int32)
  )
  assert step is not None
  return step


def _counts_around(step: int) -> np.ndarray:
  counts = {0, 1, 2, 3, 2**24, 2**24 + 1, _INT32_MAX - 1, _INT32_MAX}
  counts |= {step + k for k in range(-2, 3)}
  counts |= {step * k for k in (2, 10, 1000)}
  return np.array(sorted(c for c in counts if 0 <= c <= _INT32_MAX), np.int32)


def _check_bit_identical(decay: float) -> None:
  counts = _counts_around(_saturation(decay))
  values = np.asarray(jax.vmap(lambda c: _plain(decay, c))(counts))
  if decay == 0:  # log(0) = -inf: NaN at t = 0 (0 * -inf) as before, 1 from t = 1 on.
    assert np.isnan(values[0]) and (values[1:] == 1).all()
  expected = _bits(values)
  one_minus_power = numerics.one_minus_power
  jitted_fn = jax.jit(lambda c: one_minus_power(decay, c))
  jitted = [_bits(jitted_fn(c)) for c in counts]
  step = _saturation(decay)
  for c in {0, step - 1, step, _INT32_MAX} & set(counts.tolist()):  # Eager: slow, a few.
    eager = _bits(one_minus_power(decay, jnp.asarray(c, jnp.int32)))
    assert eager == expected[counts.tolist().index(c)], f"eager, decay {decay}, count {c}"
  vmapped = _bits(jax.vmap(lambda c: one_minus_power(decay, c))(counts))
  scanned = _bits(jax.lax.scan(lambda _, c: (None, one_minus_power(decay, c)), None, counts)[1])
  for name, got in [("jit", jitted), ("vmap", vmapped), ("scan", scanned)]:
    np.testing.assert_array_equal(np.asarray(got), expected, err_msg=f"{name}, decay {decay}")


@pytest.mark.parametrize("decay", _SATURATION_DECAYS)
def test_saturation_is_bit_identical_float32(decay):
  _check_bit_identical(decay)


@pytest.mark.parametrize("decay", _SATURATION_DECAYS)
def test_saturation_is_bit_identical_float64(decay):
  with jax.enable_x64(True):
    _check_bit_identical(decay)


@pytest.mark.parametrize("x64", [False, True])
@pytest.mark.parametrize("decay", [0.5, 0.9, 0.999, 0.99999])
def test_saturation_is_bit_identical_over_a_dense_range(decay, x64):
  # Every count from well before the saturation step to 200k past it.
  with jax.enable_x64(x64):
    step = _saturation(decay)
    counts = jnp.arange(max(0, step - 5000), step + 200_000, dtype=jnp.int32)
    new = jax.jit(jax.vmap(lambda c: numerics.one_minus_power(decay, c)))(counts)
    old = jax.jit(jax.vmap(lambda c: _plain(decay, c)))(counts)
    np.testing.assert_array_equal(_bits(new), _bits(old))
    assert (np.asarray(old)[counts >= step] == 1).all()


def test_expm1_is_minus_one_past_every_saturation_step_float32():
  # The proof for every count, not only the ones tested: the expm1 argument
  # float32(float32(t) * float32(log β)) does not increase with t, it is at most
  # `bound` at the saturation step, and XLA's float32 expm1 is exactly -1 at every
  # float32 below `bound` (checked exhaustively down to -104, where exp underflows).
  bound = np.float64(np.log(np.finfo(np.float32).eps / 8)) * (1 - 2 * np.finfo(np.float32).eps)
  for decay in [*_SATURATION_DECAYS[1:], 0.9999, 0.999999, 0.99999999]:
    step = _saturation(decay)
    arg = jnp.asarray(step, jnp.float32) * jnp.asarray(numerics.log_decay(decay), jnp.float32)
    assert float(arg) <= bound, decay
  start = np.float32(bound).view(np.int32)  # Negative floats: larger bits, more negative.
  stop = np.float32(-104.0).view(np.int32)
  expm1 = jax.jit(jnp.expm1)
  chunk = 1 << 22
  for first in range(int(start), int(stop) + 1, chunk):
    x = np.arange(first, min(first + chunk, int(stop) + 1), dtype=np.int32).view(np.float32)
    assert x.max() <= bound
    assert (np.asarray(expm1(x)) == -1).all()
  far = np.array([-104.0, -200.0, -1e30, -np.inf], np.float32)
  assert (np.asarray(expm1(far)) == -1).all()


@pytest.mark.parametrize("decay", [0.5, 0.9, 0.99])
def test_saturation_in_a_scan_counter(decay):
  # As the optimizers use it: an int32 step counter carried through a scan.
  def run(fn):
    def body(count, _):
      count = count + 1
      return count, fn(decay, count)

    return jax.jit(lambda: jax.lax.scan(body, jnp.int32(0), None, length=5000)[1])()

  np.testing.assert_array_equal(_bits(run(numerics.one_minus_power)), _bits(run(_plain)))


def _debiased_direction(m, v, bc1, bc2):
  """Adam's direction as torch computes it, with the corrections as arguments."""
  return m / (jnp.sqrt(v) / jnp.sqrt(bc2) + 1e-8) * (1 / bc1)


@pytest.mark.parametrize("decays", [(0.9, 0.99), (0.5, 0.999), (0.99, 0.9)])
def test_bias_corrections_are_bit_identical_across_saturation(decays):
  # The direction over a scan of counts through the later saturation step, with
  # moments of every magnitude: the shortcut's ones against the computed corrections.
  step = max(_saturation(d) for d in decays)
  counts = np.arange(max(1, step - 300), step + 300, dtype=np.int32)
  rng = np.random.default_rng(0)
  m = jnp.asarray(rng.standard_normal(counts.size) * 10.0 ** rng.uniform(-8, 8, counts.size))
  v = jnp.asarray(rng.uniform(0, 1, counts.size) * 10.0 ** rng.uniform(-16, 16, counts.size))
  m, v = m.astype(jnp.float32), v.astype(jnp.float32)

  def run(with_shortcut):
    def body(_, xs):
      count, m_t, v_t = xs
      if with_shortcut:
        corrections = numerics.bias_corrections(decays, count)
      else:
        corrections = tuple(_plain(d, count) for d in decays)
      return None, _debiased_direction(m_t, v_t, *corrections)

    return jax.jit(lambda: jax.lax.scan(body, None, (jnp.asarray(counts), m, v))[1])()

  np.testing.assert_array_equal(_bits(run(True)), _bits(run(False)))


def test_bias_corrections_under_vmap():
  # Batched counts: the cond becomes a select of scalars, with the same values.
  def ratio(count):
    bc1, bc2 = numerics.bias_corrections((0.9, 0.99), count)
    return bc2 / bc1

  counts = jnp.array([1, 5000, 3, 10_000], jnp.int32)
  expected = [float(_plain(0.99, c) / _plain(0.9, c)) for c in counts]
  np.testing.assert_array_equal(np.asarray(jax.vmap(ratio)(counts)), np.float32(expected))
  nested = jax.vmap(jax.vmap(ratio))(jnp.stack([counts, counts[::-1]]))
  np.testing.assert_array_equal(np.asarray(nested[0]), np.float32(expected))
  np.testing.assert_array_equal(np.asarray(nested[1]), np.float32(expected[::-1]))


def test_bias_corrections_without_a_saturation_step():
  # A traced decay: the corrections are computed, with no cond.
  def ratio(b1, count):
    bc1, bc2 = numerics.bias_corrections((b1, 0.99), count)
    return bc2 / bc1

  compiled = jax.jit(ratio).lower(jnp.float32(0.9), jnp.int32(1)).compile().as_text()
  assert "conditional" not in compiled
  assert float(jax.jit(ratio)(jnp.float32(0.9), jnp.int32(1))) == pytest.approx(0.1)


def _cond_outputs(jaxpr: jax.extend.core.Jaxpr):
  """The output avals of every ``cond`` in ``jaxpr``, its sub-jaxprs included."""
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "cond":
      yield from (var.aval for var in eqn.outvars)
    for param in eqn.params.values():
      for sub in param if isinstance(param, tuple) else (param,):
        if isinstance(sub, jax.extend.core.ClosedJaxpr):
          yield from _cond_outputs(sub.jaxpr)
        elif isinstance(sub, jax.extend.core.Jaxpr):
          yield from _cond_outputs(sub)


@pytest.mark.parametrize(
  "tx",
  [
    jaxopt_fix.scale_by_amsgrad(variant="optax"),
    jaxopt_fix.scale_by_yogi(variant="tfa"),
    jaxopt_fix.torch_optim.adam(amsgrad=True),
    jaxopt_fix.torch_optim.nadam(),
    jaxopt_fix.torch_optim.radam(),
  ],
  ids=["amsgrad", "yogi", "adam", "nadam", "radam"],
)
def test_the_shortcut_holds_scalars_only(tx):
  # Whatever uses the corrections runs outside the cond: a large tree pays nothing for it.
  params = {"w": jnp.ones((64, 32)), "b": jnp.ones(32)}
  jaxpr = jax.make_jaxpr(lambda g, s: tx.update(g, s, params))(params, tx.init(params)).jaxpr
  outputs = list(_cond_outputs(jaxpr))
  assert outputs, "no cond: the shortcut is gone"
  assert all(aval.shape == () for aval in outputs), outputs


def test_eager_bias_corrections_compile_once(compilations):
  numerics.bias_corrections((0.9, 0.999), jnp.int32(1))
  compilations.clear()
  for count in (2, 5000, 3):
    numerics.bias_corrections((0.9, 0.999), jnp.int32(count))
  assert compilations == []


def test_saturation_is_compiled_in_on_cpu():
  hlo = jax.jit(lambda c: numerics.one_minus_power(0.9, c)).lower(jnp.int32(1)).compile()
  text = hlo.as_text()
  assert "conditional" in text if jax.default_backend() == "cpu" else "conditional" not in text
  # A traced decay has no saturation step: the plain formula, no cond.
  traced = jax.jit(numerics.one_minus_power).lower(jnp.float32(0.9), jnp.int32(1)).compile()
  assert "conditional" not in traced.as_text()


@pytest.mark.parametrize("decay", [1.0, 1.5, -0.5, float("nan"), 1 - 1e-12])
def test_no_saturation_step(decay):
  with np.errstate(invalid="ignore"):
    log_beta = numerics.log_decay(decay)
  for dtype in (np.float32, np.float64):
    assert numerics.saturation_step(log_beta, np.dtype(dtype), np.dtype(np.int32)) is None
  count = jnp.asarray(3, jnp.int32)
  with np.errstate(invalid="ignore"):
    np.testing.assert_array_equal(
      _bits(numerics.one_minus_power(decay, count)), _bits(_plain(decay, count))
    )


def test_no_saturation_step_for_a_float_count():
  log_beta = numerics.log_decay(0.9)
  assert numerics.saturation_step(log_beta, np.dtype(np.float32), np.dtype(np.float32)) is None
  assert numerics.saturation_step(log_beta, np.dtype(np.float32), np.dtype(np.int32)) == 172


# rounded_product and rounded_sqrt: each result rounded as torch's separate kernels round it.


def _float32_operands(seed: int, size: int = 100_000) -> tuple[np.ndarray, ...]:
  rng = np.random.default_rng(seed)
  x = rng.standard_normal(size).astype(np.float32)
  noise = (rng.standard_normal(size) * 1e-3).astype(np.float32)
  return x, noise


def test_rounded_product_is_rounded_before_a_subtraction():
  # x * f - y with y close to x * f: a fused multiply-add keeps the exact product,
  # torch (m.mul_(f), then sub_) rounds it. numpy rounds every operation.
  x, noise = _float32_operands(0)
  f = np.float32(0.999)
  y = (x * f + noise).astype(np.float32)
  expected = (x * f).astype(np.float32) - y
  got = jax.jit(lambda x, y: numerics.rounded_product(x, f) - y)(x, y)
  np.testing.assert_array_equal(_bits(got), _bits(expected))
  assert (np.asarray(jax.jit(lambda x, y: x * f - y)(x, y)) != expected).any(), (
    "XLA no longer contracts x * f - y: rounded_product may be unnecessary"
  )


def test_rounded_product_special_values():
  x = jnp.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 3.0], jnp.float32)
  for factor in (0.0, 2.0, np.inf):
    with np.errstate(invalid="ignore"):  # inf * 0
      expected = np.asarray(x) * np.float32(factor)
    np.testing.assert_array_equal(jax.jit(numerics.rounded_product)(x, factor), expected)


def test_rounded_sqrt_divides_after_rounding_the_root():
  # a / sqrt(b): XLA would multiply by rsqrt(b) (two roundings of a different value).
  a, _ = _float32_operands(1)
  b = np.random.default_rng(2).uniform(0, 10, a.size).astype(np.float32)
  expected = a / np.sqrt(b)
  got = jax.jit(lambda a, b: a / numerics.rounded_sqrt(b))(a, b)
  np.testing.assert_array_equal(_bits(got), _bits(expected))
  assert (np.asarray(jax.jit(lambda a, b: a / jnp.sqrt(b))(a, b)) != expected).any(), (
    "XLA no longer rewrites a / sqrt(b): rounded_sqrt may be unnecessary"
  )


def test_rounded_sqrt_special_values():
  x = jnp.array([np.nan, np.inf, -1.0, 0.0, -0.0, 4.0], jnp.float32)
  with np.errstate(invalid="ignore"):
    expected = np.sqrt(np.asarray(x))
  got = jax.jit(numerics.rounded_sqrt)(x)
  np.testing.assert_array_equal(got, expected)
  assert np.signbit(got[4]), "sqrt(-0) is -0"


@pytest.mark.parametrize("eps", [1e-8, "traced", 0.0])
def test_sqrt_plus_divides_after_rounding_the_root_and_the_sum(eps):
  # a / (sqrt(b) + eps): a zero eps is folded away and the root would become an rsqrt.
  a, _ = _float32_operands(3)
  b = np.random.default_rng(4).uniform(0, 10, a.size).astype(np.float32)
  e = np.float32(0.25 if eps == "traced" else eps)
  expected = a / (np.sqrt(b) + e)
  if eps == "traced":
    got = jax.jit(lambda a, b, e: a / numerics.sqrt_plus(b, e))(a, b, e)
  else:
    got = jax.jit(lambda a, b: a / numerics.sqrt_plus(b, eps))(a, b)
  np.testing.assert_array_equal(_bits(got), _bits(expected))


def test_sqrt_plus_needs_the_select_only_for_a_zero_eps():
  a, _ = _float32_operands(5)
  b = np.random.default_rng(6).uniform(0, 10, a.size).astype(np.float32)
  plain = jax.jit(lambda a, b: a / (jnp.sqrt(b) + 0.0))(a, b)
  assert (np.asarray(plain) != a / np.sqrt(b)).any(), (
    "XLA no longer folds sqrt(b) + 0 into a / sqrt(b): sqrt_plus's select may be unnecessary"
  )
  ops = lambda eps: str(jax.make_jaxpr(lambda b: numerics.sqrt_plus(b, eps))(b))
  assert "select_n" in ops(0.0)
  assert "select_n" not in ops(1e-8)


# computed_once: the same values, computed once instead of inside every user.


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_computed_once_changes_no_bit(dtype):
  finfo = jnp.finfo(dtype)
  special = [np.nan, np.inf, -np.inf, 0.0, -0.0, float(finfo.max), float(finfo.smallest_normal)]
  rng = np.random.default_rng(0)
  x = jnp.asarray(np.concatenate([special, rng.standard_normal(1000) * 1e3]), dtype)
  got = jax.jit(numerics.computed_once)({"a": x, "b": x[:3]}, jnp.int32(2**31 - 1))
  for leaf in (got["a"], got["b"]):
    assert leaf.dtype == x.dtype
  np.testing.assert_array_equal(_bits(got["a"]), _bits(x))
  np.testing.assert_array_equal(_bits(got["b"]), _bits(x[:3]))


def _series(count: jax.Array) -> jax.Array:
  """A scalar from the count through 16 multiplies and adds (cheap operations XLA duplicates)."""
  t = count.astype(jnp.float32)
  total = jnp.float32(0)
  for c in range(16):
    total = total * t + (c + 1) / 7
  return total


@pytest.mark.parametrize("once", [False, True])
def test_computed_once_is_not_recomputed_per_leaf(once):
  # Used by 20 leaves, the series is compiled into each leaf's loop unless it is computed once.
  leaves = [jnp.ones(1000 + i) for i in range(20)]  # distinct shapes: one fusion per leaf

  def step(leaves, count):
    scale = _series(count)
    if once:
      scale = numerics.computed_once(scale, count)
    return [x * scale for x in leaves]

  text = jax.jit(step).lower(leaves, jnp.int32(3)).compile().as_text()
  multiplies = text.count(" multiply(")
  if once:
    assert multiplies <= 16 + 20 + 4, multiplies
  else:
    assert multiplies >= 16 * 20, f"XLA no longer duplicates the series: {multiplies}"


def test_select_is_a_plain_select_where_it_can_be():
  x, y = jnp.ones(3), jnp.zeros(3)
  jaxpr = jax.make_jaxpr(numerics.select)(jnp.bool_(True), x, y).jaxpr
  assert [eqn.primitive.name for eqn in jaxpr.eqns] == ["select_n"]
  np.testing.assert_array_equal(numerics.select(jnp.array([True, False, True]), x, y), [1, 0, 1])
  # Mixed shapes and dtypes fall back to jnp.where's promotion and broadcasting.
  mixed = numerics.select(jnp.array([True, False]), 2.0, jnp.zeros(2))
  np.testing.assert_array_equal(mixed, [2, 0])
  assert numerics.select(True, jnp.ones(2, jnp.bfloat16), jnp.zeros(2)).dtype == jnp.float32


# bfloat16 and float16: torch computes each operation in float32 (its opmath) and rounds once.


@pytest.mark.parametrize(
  ("dtype", "expected"),
  [
    (jnp.bfloat16, jnp.float32),
    (jnp.float16, jnp.float32),
    (jnp.float32, jnp.float32),
    (np.float64, np.float64),
    (jnp.int32, jnp.int32),
  ],
)
def test_opmath_dtype(dtype, expected):
  assert numerics.opmath_dtype(dtype) == jnp.dtype(expected)


def test_rounded_product_bfloat16_keeps_the_factor_in_float32():
  # torch's bfloat16 mul_(f) multiplies by the float32 f and rounds the product once:
  # 3 * 1.003 = 3.009 rounds up to 3 + 2**-6; `x * f` rounds f to bfloat16 first (1.0).
  x, factor = jnp.full(1, 3.0, jnp.bfloat16), 1.003
  got = jax.jit(numerics.rounded_product, static_argnums=1)(x, factor)
  assert got.dtype == jnp.bfloat16
  assert float(got[0]) == 3 + 2**-6
  assert float((x * jnp.asarray(factor, jnp.bfloat16))[0]) == 3.0


def test_rounded_product_bfloat16_rounds_before_a_sum():
  # bfloat16 needs no select: each product is rounded by XLA's conversion before the sum.
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.standard_normal(100_000), jnp.bfloat16)
  y = jnp.asarray(rng.standard_normal(100_000), jnp.bfloat16)
  f = 0.999
  product = (np.asarray(x, np.float32) * np.float32(f)).astype(jnp.bfloat16)
  expected = (product.astype(np.float32) - np.asarray(y, np.float32)).astype(jnp.bfloat16)
  got = jax.jit(lambda x, y: numerics.rounded_product(x, f) - y)(x, y)
  np.testing.assert_array_equal(np.asarray(got), expected)
