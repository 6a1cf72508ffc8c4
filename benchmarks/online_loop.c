/* The Reddi online problem, f_t(x) = 1010 x if t % 101 == 1 else -10 x on [-1, 1],
 * with torch.optim.Adam's single-tensor float32 step (amsgrad: max of the raw second
 * moment, then / sqrt(1 - b2^t)), as a plain C loop: the hardware limit.
 *
 * Usage: online_loop adam|amsgrad STEPS LR B1 B2 EPS [split|perstep]
 * Prints one line: "ns_per_step=<float> x=<float32 x_T as %.9g>".
 *
 * The bias corrections 1 - b^t use running powers p *= b in double (relative error
 * about t * 2^-53, far below float32's ulp for any t below 2^31), rounded as torch rounds
 * them: step_size = lr / (1 - b1^t) and sqrt(1 - b2^t) in double, then to float32.
 * "split" (the default, the fastest) stops computing them once 1 - b^t rounds to 1 in
 * double, which changes no value; "perstep" computes them on every step, as the JAX
 * loops do.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One step; `step_size` and `bc2_sqrt` are the float32 roundings of torch's
 * lr / (1 - b1^t) and sqrt(1 - b2^t). */
#define STEP(g, step_size, bc2_sqrt)                                    \
  do {                                                                  \
    m = m + w1 * ((g) - m); /* exp_avg.lerp_(g, 1 - b1) */              \
    v = v * fb2;            /* exp_avg_sq.mul_(b2) ... */               \
    v = v + w2 * (g) * (g); /* ... .addcmul_(g, g, value=1 - b2) */     \
    float s_ = v;                                                       \
    if (amsgrad) {                                                      \
      vmax = vmax > v ? vmax : v;                                       \
      s_ = vmax;                                                        \
    }                                                                   \
    const float denom_ = sqrtf(s_) / (bc2_sqrt) + feps;                 \
    x = x + (-(step_size)) * (m / denom_); /* param.addcdiv_ */         \
    x = x < -1.0f ? -1.0f : (x > 1.0f ? 1.0f : x); /* clamp_(-1, 1) */  \
  } while (0)

static float run(int amsgrad, int split, long steps, double lr, double b1, double b2,
                 double eps) {
  const float w1 = (float)(1.0 - b1), fb2 = (float)b2, w2 = (float)(1.0 - b2), feps = (float)eps;
  float x = 0.0f, m = 0.0f, v = 0.0f, vmax = 0.0f;
  double p1 = 1.0, p2 = 1.0;
  long t = 0;
  int phase = 0; /* t % 101, without a division */
  /* Phase 1: the bias corrections still differ from 1 in double. */
  for (; t < steps && (!split || 1.0 - p1 != 1.0 || 1.0 - p2 != 1.0); ++t) {
    const float g = phase == 1 ? 1010.0f : -10.0f;
    phase = phase == 100 ? 0 : phase + 1;
    p1 *= b1;
    p2 *= b2;
    const float step_size = (float)(lr / (1.0 - p1));
    const float bc2_sqrt = (float)sqrt(1.0 - p2);
    STEP(g, step_size, bc2_sqrt);
  }
  /* Phase 2: 1 - b^t rounds to 1 in double (and in float32), so the corrections are
   * exactly torch's (lr and 1) from here on. */
  const float step_size = (float)lr;
  for (; t < steps; ++t) {
    const float g = phase == 1 ? 1010.0f : -10.0f;
    phase = phase == 100 ? 0 : phase + 1;
    STEP(g, step_size, 1.0f);
  }
  return x;
}

int main(int argc, char **argv) {
  if (argc != 7 && argc != 8) {
    fprintf(stderr, "usage: %s adam|amsgrad STEPS LR B1 B2 EPS [split|perstep]\n", argv[0]);
    return 2;
  }
  const int amsgrad = strcmp(argv[1], "amsgrad") == 0;
  const long steps = atol(argv[2]);
  const double lr = atof(argv[3]), b1 = atof(argv[4]), b2 = atof(argv[5]), eps = atof(argv[6]);
  const int split = argc == 7 || strcmp(argv[7], "perstep") != 0;
  const double start = now_ns();
  const float x = run(amsgrad, split, steps, lr, b1, b2, eps);
  const double elapsed = now_ns() - start;
  printf("ns_per_step=%.6f x=%.9g\n", elapsed / (double)steps, (double)x);
  return 0;
}
