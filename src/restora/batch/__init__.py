"""Batch restoration of folders: resumable, parallel decode/encode, JSON/CSV reports.

>>> from restora.batch import run_batch
>>> report = run_batch("scans/", "restored/", workers=4, scale=2)   # doctest: +SKIP
>>> report.write("report.json"); report.failed                       # doctest: +SKIP

The same job on a Ray cluster: :func:`restora.distributed.run_ray_batch`.
"""

from restora.batch.job import (
    BatchItem,
    BatchReport,
    BatchTask,
    check_report_path,
    find_images,
    plan_tasks,
    read_task,
    restore_one,
    run_batch,
    write_task,
)

__all__ = [
    "BatchItem",
    "BatchReport",
    "BatchTask",
    "check_report_path",
    "find_images",
    "plan_tasks",
    "read_task",
    "restore_one",
    "run_batch",
    "write_task",
]
