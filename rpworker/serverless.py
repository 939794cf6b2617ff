"""``start(config)``: the entry point handlers call, choosing the mode to run in.

Production (the platform sets ``RUNPOD_WEBHOOK_GET_JOB`` and no flag asks for
a local mode), the local API (``--rp_serve_api``) or one test job; each returns an exit status and
``start`` exits with it, as the SDK's ``start`` never returns either.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from rpworker import logs
from rpworker.debugger import with_timings
from rpworker.env import SettingError
from rpworker.flags import Flags, parse_flags
from rpworker.settings import job_timeout, refused
from rpworker.types import Config


class ConfigError(ValueError):
    """The dict passed to ``start`` cannot run; the message says what to change."""


def check_config(config: object) -> Config:
    if not isinstance(config, dict):
        raise ConfigError(
            f"start() takes a dict such as {{'handler': my_handler}}, got {type(config).__name__}"
        )
    if "handler" not in config:
        raise ConfigError(
            "start() needs config['handler']: the function that takes a job dict and "
            "returns (or yields) its output"
        )
    if not callable(config["handler"]):
        raise ConfigError(
            f"config['handler'] must be callable (a function taking the job dict), "
            f"got {type(config['handler']).__name__}"
        )
    modifier = config.get("concurrency_modifier")
    if modifier is not None and not callable(modifier):
        raise ConfigError(
            "config['concurrency_modifier'] must be a function int -> int, "
            f"got {type(modifier).__name__}"
        )
    return config


def _production(flags: Flags) -> bool:
    """The platform's env selects production unless a flag asks for a local mode.

    As the SDK's ``start`` serves ``--rp_serve_api`` first and its worker
    ``_is_local`` runs ``--test_input`` whatever the env says: a test run in a
    shell on a worker must never take the endpoint's real jobs.
    """
    explicit_local = flags.serve_api or flags.test_input is not None
    return bool(os.environ.get("RUNPOD_WEBHOOK_GET_JOB")) and not explicit_local


def start(config: Config) -> NoReturn:
    """Run the handler in ``config`` in the mode the environment and flags select."""
    config = check_config(config)
    flags = parse_flags()
    if flags.log_level_flag:
        logs.RunPodLogger().set_level(flags.log_level_flag)
    if flags.debugger:
        config = {**config, "handler": with_timings(config["handler"])}
    if _production(flags):
        from rpworker.worker import run_worker

        code = run_worker(config)
    else:
        logs.setup(flags.log_level)
        from rpworker.gpu import check_at_startup

        try:
            job_timeout(config, os.environ)  # unused here, but refused as production would
        except SettingError as error:
            sys.exit(refused(error))
        gpu_check = check_at_startup(os.environ, production=False)
        if gpu_check.failed:
            print(f"rpworker: GPU check failed: {gpu_check.reason}", file=sys.stderr)
            code = 1
        elif flags.serve_api:
            from rpworker.local_api import run as serve_api

            code = serve_api(config, flags, gpu_facts=gpu_check.health)
        else:
            from rpworker.test_mode import run as run_test_job

            code = run_test_job(config, flags)
    sys.exit(code)
