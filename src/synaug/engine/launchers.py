"""Where the jobs of a sweep run (DomainBed's command launchers): `local` (this process, or N worker
processes that die with it), `multi-gpu` (one worker per visible GPU) and `slurm` (a submitit job
array; a preempted job is requeued and resumes from its checkpoints). Every launcher executes the
same `execute(task)`: the engine's `run_job` into the job's folder of the run store, so a job's
record is the same whichever launcher ran it.

Synthetic sets, fitted generators and audits are made by the calling process before any job is
launched (`synaug.engine.sweep.prepare`): workers only read them, so two workers never write one
folder."""

from __future__ import annotations

from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from synaug.engine.execute import run_job
from synaug.engine.job import Job
from synaug.engine.store import RunStore
from synaug.engine.workspace import Workspace
from synaug.errors import ConfigError
from synaug.progress import Progress
from synaug.registry import Registry
from synaug.runtime import only_gpu, visible_gpus
from synaug.workers import process_pool


@dataclass(frozen=True)
class Task:
    """One job as a worker process receives it (plain, picklable data)."""

    job: Job
    store: str
    shared: str
    cache_dir: str | None = None
    threads: int = 1


def execute(task: Task) -> str:
    """Run one job into its store folder in a fresh workspace (a worker's); returns its key."""
    import torch
    torch.set_num_threads(task.threads)
    store = RunStore(Path(task.store))
    ws = Workspace(shared=Path(task.shared), cache_dir=None if task.cache_dir is None else Path(task.cache_dir),
                   progress=False, log=lambda *a, **k: None)
    run_job(task.job, store.folder(task.job), ws, place=store.folder)
    return task.job.key()


@dataclass(frozen=True)
class LaunchSettings:
    name: str = "local"
    workers: int = 1              # local: processes (1: this process)
    folder: str | None = None     # slurm: submitit's folder for logs and pickles (default STORE/slurm)
    slurm: tuple = ()             # slurm: submitit parameters (partition, timeout_min, gpus_per_node, ...)


LAUNCHERS = Registry("launcher")


def check_launcher(settings: LaunchSettings) -> None:
    """Before any work: the launcher exists and can run here (GPUs for multi-gpu, submitit for slurm)."""
    LAUNCHERS[settings.name]  # an unknown name: an error listing the launchers
    if settings.workers < 1:
        raise ConfigError(f"--workers {settings.workers}: give 1 or more")
    if settings.name == "multi-gpu":
        import torch
        if torch.cuda.device_count() == 0:
            raise ConfigError("--launcher multi-gpu: no CUDA GPU is visible here (torch.cuda.device_count() is 0); "
                              "use --launcher local")
    if settings.name in ("slurm", "submitit-local"):
        try:
            import submitit  # noqa: F401
        except ImportError as exc:
            raise ConfigError(f"--launcher {settings.name} needs submitit: pip install 'synaug[slurm]'") from exc


def launch(settings: LaunchSettings, tasks: list[Task], in_process: Callable[[Job], None], log=print,
           progress: bool = True) -> dict:
    """Run every task with the named launcher; returns {job key: the exception it raised} for jobs that
    failed (the caller decides which failures are the user's)."""
    if not tasks:
        return {}
    return LAUNCHERS[settings.name](settings, tasks, in_process, log, progress)


def each_in_process(tasks: list[Task], in_process: Callable[[Job], None], progress: bool) -> dict:
    failed = {}
    bar = Progress(total=len(tasks), desc="jobs", unit="job", rate=False, enabled=progress)
    for task in tasks:
        try:
            in_process(task.job)
        except Exception as exc:  # noqa: BLE001 -- handed to the caller, which re-raises what is not a row's
            failed[task.job.key()] = exc
        bar.update()
    bar.close()
    return failed


def pooled(tasks: list[Task], workers: int, progress: bool, initializer=None, initargs=()) -> dict:
    """The tasks on `workers` processes (synaug.workers: they die with this one), with a progress bar
    and ETA over jobs."""
    failed = {}
    bar = Progress(total=len(tasks), desc="jobs", unit="job", rate=False, enabled=progress)
    with process_pool(workers, initializer, initargs) as pool:
        futures = {pool.submit(execute, t): t for t in tasks}
        for future in as_completed(futures):
            exc = future.exception()
            if exc is not None:
                failed[futures[future].job.key()] = exc
            bar.update()
    bar.close()
    return failed


@LAUNCHERS.register("local")
def local(settings: LaunchSettings, tasks, in_process, log, progress) -> dict:
    """`--workers 1`: in this process (datasets loaded once for all jobs); N > 1: N worker processes."""
    if settings.workers <= 1:
        return each_in_process(tasks, in_process, progress)
    log(f"launcher local: {len(tasks)} job(s) on {settings.workers} worker processes")
    return pooled(tasks, settings.workers, progress)


def use_device(queue) -> None:
    """A multi-gpu worker's initializer: take one GPU index and make it the only visible one (before
    CUDA starts in this process)."""
    only_gpu(queue.get())


@LAUNCHERS.register("multi-gpu")
def multi_gpu(settings: LaunchSettings, tasks, in_process, log, progress) -> dict:
    """One worker per visible GPU, each seeing only its own; jobs are handed out as workers free up."""
    import multiprocessing

    import torch
    check_launcher(settings)
    n = torch.cuda.device_count()
    ids = visible_gpus(n)
    queue = multiprocessing.get_context("spawn").Manager().Queue()
    for i in ids:
        queue.put(i)
    log(f"launcher multi-gpu: {len(tasks)} job(s) on {n} GPU(s) ({', '.join(ids)})")
    return pooled(tasks, n, progress, use_device, (queue,))


class Requeueable:
    """submitit's checkpointing: on preemption or timeout the job is submitted again and `run_job`
    resumes it from its checkpoints (the same folder, the same stamp)."""

    def __call__(self, task: Task) -> str:
        return execute(task)

    def checkpoint(self, task: Task):
        import submitit
        return submitit.helpers.DelayedSubmission(self, task)


def submitit_executor(settings: LaunchSettings, tasks: list[Task], cluster: str | None):
    """submitit's AutoExecutor with the user's parameters under submitit's own names: its shared ones
    (timeout_min, gpus_per_node, cpus_per_task, mem_gb, nodes, tasks_per_node, name) and cluster-prefixed
    ones (slurm_partition, slurm_qos, ...; a prefixed one is ignored on another cluster, as submitit does)."""
    import submitit
    check_launcher(settings)
    folder = settings.folder or str(Path(tasks[0].store) / "slurm")
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    try:
        executor.update_parameters(**dict(settings.slurm))
    except (NameError, AssertionError) as exc:  # submitit's errors for an unknown name or a wrongly typed value
        raise ConfigError(f"--slurm: submitit refused the parameters {dict(settings.slurm)}: {exc}") from exc
    return executor


@LAUNCHERS.register("slurm")
def slurm(settings: LaunchSettings, tasks, in_process, log, progress, cluster: str | None = None) -> dict:
    """A submitit job array (one array task per job); waits for them and reports failures."""
    executor = submitit_executor(settings, tasks, cluster)
    jobs = executor.map_array(Requeueable(), tasks)
    log(f"launcher {cluster or 'slurm'}: {len(jobs)} job(s) submitted (array {jobs[0].job_id.split('_')[0]}); "
        f"logs in {executor.folder}")
    failed = {}
    bar = Progress(total=len(jobs), desc="jobs", unit="job", rate=False, enabled=progress)
    for task, job in zip(tasks, jobs):
        try:
            job.result()
        except Exception as exc:  # noqa: BLE001 -- submitit re-raises the worker's error (FailedJobError)
            failed[task.job.key()] = exc
        bar.update()
    bar.close()
    return failed


@LAUNCHERS.register("submitit-local")
def submitit_local(settings: LaunchSettings, tasks, in_process, log, progress) -> dict:
    """submitit's local executor (the slurm launcher's code path without a cluster; for tests and one box)."""
    return slurm(settings, tasks, in_process, log, progress, cluster="local")
