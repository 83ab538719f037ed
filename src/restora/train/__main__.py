"""``python -m restora.train recipe.yaml [options]`` = ``restora train recipe.yaml [options]``
(handy under ``torchrun --nproc_per_node=N -m restora.train recipe.yaml``)."""

import sys

from restora.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
