"""The one engine under every command: a job is data (`synaug.engine.job.Job`), `run_job` executes
it into its run folder, and `train`, `run`, `demo` and every `experiment` are lists of jobs plus a
collector over their run folders."""
