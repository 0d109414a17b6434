"""The model server's command line: ``python -m kfp_mlops.components.serving``.

The model loads in a background thread after the HTTP server starts, so liveness answers at
once and readiness only when the model is really usable; a model that fails to load keeps
the server unready (and says why in the log) instead of crash-looping.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from kfp_mlops.components.common.model_dir import BACKENDS
from kfp_mlops.components.serving import lean_kserve
from kfp_mlops.components.serving.limits import Limits

log = logging.getLogger("kfp_mlops.components.serving")
_DEFAULTS = Limits()


def build_parser() -> argparse.ArgumentParser:
    """The command line (kebab-case, so KServe's own snake_case flags never collide)."""
    parser = argparse.ArgumentParser(
        prog="python -m kfp_mlops.components.serving",
        description="KServe model server for the library's classifiers.",
    )
    parser.add_argument("--model-dir", required=True, help="model artifact directory or file")
    parser.add_argument("--preprocessor", required=True, help="preprocessor JSON path")
    parser.add_argument("--model-name", default="model", help="name in the URLs")
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default loopback only; 0.0.0.0 in a pod)",
    )
    parser.add_argument("--backend", choices=BACKENDS, default="auto")
    parser.add_argument(
        "--tf-threads",
        type=int,
        default=1,
        help="TensorFlow threads for the Keras backend (1 suits one-row online requests; "
        "0 = one per core, for large batch requests)",
    )
    parser.add_argument(
        "--max-request-bytes",
        type=int,
        default=_DEFAULTS.max_bytes,
        help="largest request body; larger ones get a 413 (default %(default)s = 8 MiB)",
    )
    parser.add_argument(
        "--max-request-rows",
        type=int,
        default=_DEFAULTS.max_rows,
        help="most rows per request; more get a 413 (default %(default)s)",
    )
    parser.add_argument(
        "--no-access-log", action="store_true", help="do not log one line per request"
    )
    parser.add_argument(
        "--no-batch-process",
        action="store_true",
        help="answer large requests in a thread of the server's process instead of a worker "
        "process with its own copy of the model (less memory; one-row requests then wait "
        "for the GIL next to large ones)",
    )
    return parser


def _load_in_background(model: object) -> None:
    from kserve.errors import ModelNotReady

    batch = getattr(model, "batch_process", None)
    # The worker loads its copy beside ours, not on the first large request (which waits
    # for it without holding up anyone else); readiness does not wait for it.
    warming = batch.warm() if batch is not None else None
    try:
        model.load()  # type: ignore[attr-defined]
    except ModelNotReady:
        return  # already logged with the reason; readiness stays 503
    if warming is not None:
        try:
            if not warming.result():
                raise RuntimeError("its model is not ready")
        except Exception as exc:  # large requests then run in the server's batch thread
            log.error("batch process failed to start (%s); large requests run in a thread", exc)
            model.batch_process = None  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    """Start the server; blocks until SIGTERM/SIGINT. Returns 2 on a bad flag or preprocessor."""
    lean_kserve.install()  # before anything imports kserve (no Kubernetes client)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from kserve import model_server

    from kfp_mlops.components.serving.model import ClassifierModel
    from kfp_mlops.components.serving.server import ClassifierServer

    try:
        if args.tf_threads < 0:
            raise ValueError(f"--tf-threads must be >= 0, got {args.tf_threads}")
        limits = Limits(max_bytes=args.max_request_bytes, max_rows=args.max_request_rows)
        model = ClassifierModel(
            args.model_name,
            args.model_dir,
            args.preprocessor,
            args.backend,
            tf_threads=args.tf_threads or None,
            limits=limits,
        )
    except Exception as exc:  # bad flag or preprocessor: nothing to serve, say why and exit
        log.error("cannot start: %s", exc)
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    server = ClassifierServer(http_port=args.http_port, host=args.host, limits=limits)
    # KServe logs two timing lines per request; the Prometheus histograms carry the same.
    logging.getLogger("kserve.trace").setLevel(logging.WARNING)
    if args.no_access_log:
        logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    if not args.no_batch_process:
        from kfp_mlops.components.serving.batch_process import BatchProcess

        model.batch_process = BatchProcess(
            args.model_name, args.model_dir, args.preprocessor, args.backend, limits
        )
    server.register_model(model)
    server.install_middleware(model_server.app)
    # While the batch thread runs Python code, the event loop waits up to one switch interval
    # for the GIL on every wake-up; 1 ms instead of 5 keeps small requests quick next to it.
    sys.setswitchinterval(0.001)
    threading.Thread(target=_load_in_background, args=(model,), daemon=True).start()
    # No model is passed to start(): it would mark it ready before it is loaded.
    server.start([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
