"""Where a study's runs execute: in this process one after another, or as Ray tasks on many workers.

``scheduler.run_graph`` walks a study's runs in order, starting each once the runs it needs have
finished; an executor runs them. ``local.LocalExecutor`` calls each run here, in order (the
default: no Ray start-up); ``ray_executor.RayExecutor`` makes each a Ray task on an embedded local
cluster or a cluster joined by address. A run is a plain function plus its arguments (``Task``);
what it returned, or why it failed, and where it ran come back as an ``Outcome``.
"""
