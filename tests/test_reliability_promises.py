"""The README's reliability promises each name a test that exists."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_test_the_reliability_section_names_exists():
  readme = (ROOT / "README.md").read_text()
  section = readme.split("## Reliability", 1)[1].split("\n## ", 1)[0]
  named = set(re.findall(r"`(?:[\w/.]+::)?(test_\w+)`", section))
  sources = "\n".join(
    path.read_text()
    for path in ROOT.rglob("*test*.py")
    if not {".git", "build", "node_modules"} & set(path.parts)
  )
  defined = set(re.findall(r"^def (test_\w+)\(", sources, flags=re.MULTILINE))
  assert len(named) >= 10
  assert named <= defined, sorted(named - defined)
