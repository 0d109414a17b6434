"""KServe model server for the library's classifiers (the serving image's entry point).

Run::

    python -m kfp_mlops.components.serving --model-dir DIR --preprocessor PATH \
        --model-name NAME --http-port 8080 [--host 127.0.0.1] [--backend auto|keras|tflite] \
        [--tf-threads 1] [--max-request-bytes 8388608] [--max-request-rows 10000]

- V1: ``POST /v1/models/<name>:predict`` with ``{"instances": [{"feature": value, ...}]}``
  (or rows as lists in the order of the metadata's inputs); answers ``predictions`` (class
  names) and ``probabilities``. Readiness: ``GET /v1/models/<name>``.
- V2: ``POST /v2/models/<name>/infer`` with one input per raw feature column (shape ``[n]``)
  or one ``[n, columns]`` FP32 input; readiness ``GET /v2/health/ready`` (503 until the model
  is loaded), metadata ``GET /v2/models/<name>``.
- Image models (preprocessor with an ``image_column``): V1 instances are
  ``{"b64": "<base64 PNG/JPEG>"}``, base64 strings or pixel arrays 0-255 (``[h, w, c]``,
  ``[h, w]`` or flat); V2 takes one ``UINT8`` or ``FP32`` input of pixels 0-255 (FP32 is
  0-255 too, not 0-1) shaped ``[n, h, w, c]`` (or ``[n, h * w * c]``), or ``BYTES`` ``[n]``
  of base64 images. Answers as for tables; ``:explain`` answers 501 (see ``images``).
- ``GET /metrics``: KServe's histograms plus ours: requests by endpoint and status, request
  latency, predictions by class.

Modules: ``model`` (the ``kserve.Model``), ``protocol`` (V1/V2 bodies and their 400s),
``features`` (raw values -> features), ``images`` (image requests -> pixels), ``limits``
(413s, large batches), ``endpoints`` and ``server`` (KServe's server on a chosen address),
``metrics``, ``__main__`` (the command).
Nothing here imports TensorFlow unless the Keras backend is served.
"""
