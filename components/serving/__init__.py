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
- ``GET /metrics``: KServe's histograms plus ours: requests by endpoint and status, request
  latency, predictions by class.

Modules: ``model`` (the ``kserve.Model``), ``protocol`` (V1/V2 bodies and their 400s),
``features`` (raw values -> features), ``limits`` (413s, large batches), ``endpoints`` and
``server`` (KServe's server on a chosen address), ``metrics``, ``__main__`` (the command).
Nothing here imports TensorFlow unless the Keras backend is served.
"""
