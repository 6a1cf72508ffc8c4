"""Prints the worst parity error of every spec, per dtype and field, as a markdown table.

    python -m parity_tests.report [--steps N]

The README's parity table is this command's output.
"""

import argparse
import collections

from jaxopt_fix import verify
from parity_tests import runner
from parity_tests.specs import all_specs


def main() -> None:
  parser = argparse.ArgumentParser(description="Prints the worst parity error of every spec.")
  parser.add_argument(
    "--steps", type=int, default=None, help="steps per run (default: each spec's own)"
  )
  args = parser.parse_args()
  print("| spec | dtype | displacement | state (worst field) |")
  print("|---|---|---|---|")
  for spec in all_specs():
    for dtype in runner.DTYPES:
      worst: dict[str, float] = collections.defaultdict(float)
      for config in spec.configs:
        for sequence in verify.SEQUENCES:
          errors, _, _ = runner.run_parity(spec, config, sequence, dtype, args.steps or spec.steps)
          for e in errors:
            worst[e.field] = max(worst[e.field], e.error)
      fields = [f for f in worst if f != "displacement"]
      # L-BFGS's state is compared after the run (parity_tests/test_lbfgs_state.py), not per step.
      state = max(fields, key=worst.__getitem__) if fields else None
      state_error = "-" if state is None else f"{worst[state]:.1e} ({state})"
      print(f"| {spec.name} | {dtype} | {worst['displacement']:.1e} | {state_error} |", flush=True)


if __name__ == "__main__":
  main()
