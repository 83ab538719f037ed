"""Distributed batch restoration on Ray Data (the ``distributed`` extra: ``ray[data]``).

>>> from restora.distributed import run_ray_batch
>>> report = run_ray_batch("in/", "out/", concurrency=4)                  # doctest: +SKIP
>>> report = run_ray_batch("in/", "out/", address="auto", concurrency=32)  # doctest: +SKIP

Ray is imported only when a job runs, so this package imports without it.
"""

from restora.distributed.ray_batch import RestoreActor, import_ray, run_ray_batch

__all__ = ["RestoreActor", "import_ray", "run_ray_batch"]
