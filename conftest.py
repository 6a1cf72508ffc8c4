"""Test-wide settings: strict shapes, long runs behind --runslow, a compilation counter."""

from collections.abc import Iterator

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


_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


@pytest.fixture
def compilations() -> Iterator[list[str]]:
  """The names of the programs XLA compiles while the test runs, one entry per compilation.

  Clear it (``compilations.clear()``) after a warm-up to count what a later call compiles.
  """
  names: list[str] = []

  def listener(event: str, duration_secs: float, **kwargs: str | int) -> None:
    del duration_secs
    if event == _BACKEND_COMPILE:
      names.append(str(kwargs.get("fun_name")))

  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    yield names
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
