"""Exporting a trained policy for the production scheduler: ``policy.onnx`` and ``policy.json``
(:mod:`hybridrl.export.onnx_export`), from the feature and decision specs of
:mod:`hybridrl.export.spec`."""
