"""Exported models: ONNX export (:mod:`.export`), reading exported files
(:mod:`.model_files`), the segmentors running them in ONNX Runtime or
OpenVINO (:mod:`.segmentor`, :mod:`.backends`), the tools' ``--backend``
check (:mod:`.backend_option`) and int8 quantization (:mod:`.quantize`).

Nothing is imported here: the runtimes (the ``deploy`` extra) are
imported only when a model is exported, read or built.
"""
