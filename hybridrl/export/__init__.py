"""Exporting a trained policy for the production scheduler: ``policy.onnx`` and ``policy.json``
(:mod:`hybridrl.export.onnx_export`), from the feature and decision specs of
:mod:`hybridrl.export.spec`; :func:`scheduler_state` and :func:`native_action`
(:mod:`hybridrl.export.parity`) check a scheduler's decisions against the simulator."""

from hybridrl.export.parity import native_action, scheduler_state

__all__ = ["native_action", "scheduler_state"]
