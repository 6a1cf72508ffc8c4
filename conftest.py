"""Test-wide settings: strict shapes, and long runs behind --runslow."""

import jax
import pytest

# Silent broadcasting is a classic source of parity bugs: make it an error.
jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_addoption(parser):
  parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
  if config.getoption("--runslow"):
    return
  skip = pytest.mark.skip(reason="long run: pass --runslow")
  for item in items:
    if "slow" in item.keywords:
      item.add_marker(skip)
