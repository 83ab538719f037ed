"""``python -m restora.train recipe.yaml [options]`` = ``restora train recipe.yaml [options]``
(handy under ``torchrun --nproc_per_node=N -m restora.train recipe.yaml``)."""

import os
import sys

from restora.cli.main import main

if __name__ == "__main__":
    code = main(["train", *sys.argv[1:]])
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Under torchrun, leave without running C++ static destructors: gloo's threads can
        # abort the interpreter's teardown ("terminate called without an active exception",
        # exit -6) after everything was written and the process group destroyed.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code or 0))
    sys.exit(code)
