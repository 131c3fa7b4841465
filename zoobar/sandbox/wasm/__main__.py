"""``python3 -m zoobar.sandbox.wasm [CACHE_DIR]``: compile the pinned CPython module
now (provisioning, tests), so that no profile view waits for it. CACHE_DIR
defaults to what the service uses: $ZOOBAR_WASM_CACHE, else wasm-cache next to
$ZOOBAR_SANDBOX_ROOT. Prints "compiled ..." if it compiled, "up to date ..." if
a trusted compiled module was there (provisioning's changed_when)."""

import os
import sys
import time

from . import cache_dir_for, compile_runtime
from ..runner import DEFAULT_ROOT


def main(argv: list[str]) -> int:
    cache = argv[0] if argv else cache_dir_for(os.environ.get("ZOOBAR_SANDBOX_ROOT", DEFAULT_ROOT))
    started = time.monotonic()
    try:
        compiled = compile_runtime(cache)
    except (RuntimeError, OSError) as err:
        print(f"zoobar.sandbox.wasm: {err}", file=sys.stderr)
        return 1
    print(f"{'compiled' if compiled else 'up to date:'} CPython for WASI in {cache}"
          f" ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
