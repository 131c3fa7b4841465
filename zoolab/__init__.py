"""zoolab: the support code around the zoobar application.

The service table and what is derived from it (``table``, ``render_conf``),
local mode (``local``), the reachability diagram (``diagram``) and the
course-style grader (``grade``, ``grader``). Run the tools from the repository
root as modules (``python -m zoolab.local``); see docs/architecture.md.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The repository checkout this package lives in."""
