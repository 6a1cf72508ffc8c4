"""``python -m jaxopt_fix.verify``; see :mod:`jaxopt_fix.verify._cli`."""

import sys

from jaxopt_fix.verify._cli import main

if __name__ == "__main__":
  sys.exit(main())
