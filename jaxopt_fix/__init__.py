"""jaxopt_fix: optax gradient transformations that behave exactly as the paper or PyTorch says.

``import jaxopt_fix`` never imports torch.
"""

from jaxopt_fix._src.alias import amsgrad
from jaxopt_fix._src.alias import yogi
from jaxopt_fix._src.numerics import one_minus_power
from jaxopt_fix._src.transform import AMSGRAD_VARIANTS
from jaxopt_fix._src.transform import YOGI_VARIANTS
from jaxopt_fix._src.transform import AmsgradVariant
from jaxopt_fix._src.transform import ScaleByAmsgradState
from jaxopt_fix._src.transform import ScaleByYogiState
from jaxopt_fix._src.transform import YogiVariant
from jaxopt_fix._src.transform import scale_by_amsgrad
from jaxopt_fix._src.transform import scale_by_yogi

__version__ = "0.1.0"

__all__ = (
  "AMSGRAD_VARIANTS",
  "YOGI_VARIANTS",
  "AmsgradVariant",
  "ScaleByAmsgradState",
  "ScaleByYogiState",
  "YogiVariant",
  "amsgrad",
  "one_minus_power",
  "scale_by_amsgrad",
  "scale_by_yogi",
  "yogi",
)
