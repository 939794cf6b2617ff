"""A local stand-in for a RunPod serverless endpoint: ``rpbuild up``.

The hosted API clients call (:mod:`.hosted_api`) and the worker protocol
workers speak (:mod:`.worker_api`) share one job queue (:mod:`.queue`); a pool
(:mod:`.pool`) starts, scales, watches and replaces workers, each a container
of the image or a local ``rpworker`` process (:mod:`.launchers`).
"""
