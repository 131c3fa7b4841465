"""The profile sandbox: runs an owner's profile code confined (DESIGN §4.4).

    from zoobar.sandbox import Sandbox, ApiError
    result = Sandbox().run(owner, code, api)   # api(name, kwargs) -> JSON value
    result.output, result.status               # "ok" | "timeout" | "error" | "busy"

See docs/sandbox.md for what the confinement is and why.
"""

from .runner import BUSY, ApiError, Limits, Result, Sandbox
from .uids import UidMap, UidRangeExhausted

__all__ = ["BUSY", "ApiError", "Limits", "Result", "Sandbox", "UidMap", "UidRangeExhausted"]
