"""Production runtime for exported policies (numpy + onnxruntime only; no torch, SB3,
Gymnasium or Hydra): :class:`Scheduler`, and the ``hybridrl-schedule`` command."""

from hybridrl.scheduler.runtime import Decision, InvalidStateError, PolicyFileError, Scheduler

__all__ = ["Decision", "InvalidStateError", "PolicyFileError", "Scheduler"]
