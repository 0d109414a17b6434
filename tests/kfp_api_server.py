"""A loopback stand-in for the Kubeflow Pipelines ``v2beta1`` REST API that checks the contract.

This is a contract test double, not a cluster: it keeps pipelines, versions, experiments,
runs and recurring runs in memory, and it checks every request ``kfp.Client`` sends against
the official API contract before answering.

Where the contract comes from: the official OpenAPI files live in kubeflow/pipelines
(``backend/api/v2beta1/swagger``) and are not copied here. The installed ``kfp-server-api``
package is generated from them but does not ship them, so :func:`load_contract` derives the
contract from the generated code itself:

* operations (HTTP method, path template, path / query parameters, the body's model, the
  multipart file fields, the response model): by calling every generated API method with
  placeholder arguments through an ``ApiClient`` whose ``call_api`` records instead of sending;
  parameter types come from each method's generated docstring;
* bodies: each model class's ``openapi_types`` and ``attribute_map``. A body field the model
  does not define, or whose JSON type does not match, is a violation.

Leniencies, each from the proto3 JSON mapping the API server (grpc-gateway, protojson) applies:
a field may be spelled by its proto name or its lowerCamelCase JSON name, an enum by name or
number, and 64-bit integers (declared ``type: string, format: int64`` in the swagger, which
the generator turns into ``str``) as a JSON number or a decimal string.

Pipelines and runs are checked as strictly as their protobuf definitions allow:

* an uploaded package (and a run's inline ``pipeline_spec``) is parsed with the
  ``kfp-pipeline-spec`` protobuf, unknown fields rejected: the first YAML document as
  ``PipelineSpec``, the second as ``PlatformSpec`` with each Kubernetes executor config as
  kfp-kubernetes' ``KubernetesExecutorConfig``; then every task's component, every
  component's executor and every platform executor must exist (:func:`parse_pipeline_package`);
* a run's or recurring run's parameters must be inputs of the pipeline's
  ``root.inputDefinitions``, of their declared type, with every input that has no default
  and is not optional given (:func:`check_run_parameters`). The real API server accepts such
  a run and its driver fails it once it starts; failing at creation lets a test see it.

Every violation is recorded in :attr:`KfpApiServer.violations` and answered with 400, so a
test both sees the client fail and can assert ``server.violations == []``. Responses are
built from the same models and serialized with ``ApiClient.sanitize_for_serialization``.
"""

from __future__ import annotations

import email.parser
import email.policy
import inspect
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import kfp_server_api
import yaml
from google.protobuf import json_format
from kfp.kubernetes.kubernetes_executor_config_pb2 import KubernetesExecutorConfig
from kfp.pipeline_spec import pipeline_spec_pb2
from kfp_server_api import api as generated_api
from kfp_server_api import models

# int64 fields: swagger says {type: string, format: int64}; the generator keeps only "str".
# proto3 JSON accepts a number or a decimal string for them (kfp.Client sends a number).
INT64_FIELDS = {
    ("V2beta1RecurringRun", "max_concurrency"),
    ("V2beta1PeriodicSchedule", "interval_second"),
    ("V2beta1Predicate", "long_value"),
    ("PredicateLongValues", "values"),
}

# google.rpc.Code values used in error bodies.
RPC_INVALID_ARGUMENT, RPC_NOT_FOUND, RPC_ALREADY_EXISTS = 3, 5, 6
RPC_PERMISSION_DENIED, RPC_UNAUTHENTICATED, RPC_UNIMPLEMENTED, RPC_INTERNAL = 7, 16, 12, 13


@dataclass(frozen=True)
class Operation:
    """One REST operation of the generated client."""

    name: str
    method: str
    path: str
    path_params: tuple[str, ...]
    query_params: dict[str, str]
    body_model: str | None
    files: tuple[str, ...]
    response_type: str | None
    pattern: re.Pattern = field(compare=False, repr=False)


class _Recorder(kfp_server_api.ApiClient):
    """An ApiClient whose ``call_api`` records the request it would send."""

    def call_api(  # type: ignore[override]
        self,
        resource_path: str,
        method: str,
        path_params: dict | None = None,
        query_params: list | None = None,
        header_params: dict | None = None,
        **kwargs: Any,
    ) -> None:
        self.recorded = (resource_path, method, {"query_params": query_params or [], **kwargs})


def _placeholder(type_name: str) -> Any:
    if type_name == "int":
        return 1
    if type_name == "bool":
        return True
    if hasattr(models, type_name):
        return getattr(models, type_name)()
    return "x"


def load_contract() -> list[Operation]:
    """Every operation of the installed ``kfp_server_api``, derived from the generated client."""
    operations = []
    recorder = _Recorder()
    for cls_name in dir(generated_api):
        if not cls_name.endswith("Api"):
            continue
        api = getattr(generated_api, cls_name)(recorder)
        for name, method in inspect.getmembers(api, inspect.ismethod):
            if name.startswith("_") or name.endswith("_with_http_info"):
                continue
            types = dict(re.findall(r":type (\w+): ([^\n,]+)", inspect.getdoc(method) or ""))
            types.pop("async_req", None)
            required = [p for p in inspect.signature(method).parameters if p != "kwargs"]
            optional = {p: _placeholder(t) for p, t in types.items() if p not in required}
            method(*[_placeholder(types[p]) for p in required], **optional)
            path, http_method, sent = recorder.recorded
            query = {wire: types.get(wire, "str") for wire, _ in sent["query_params"]}
            body = sent.get("body")
            operations.append(
                Operation(
                    name=name,
                    method=http_method,
                    path=path,
                    path_params=tuple(re.findall(r"{([^}]+)}", path)),
                    query_params=query,
                    body_model=type(body).__name__ if body is not None else None,
                    files=tuple(sent.get("files") or ()),
                    response_type=sent.get("response_type"),
                    pattern=re.compile("^" + re.sub(r"{[^}]+}", "([^/:]+)", path) + "$"),
                )
            )
    # Literal paths before templated ones: /pipelines/upload is not /pipelines/{pipeline_id}.
    return sorted(operations, key=lambda op: (len(op.path_params), op.path))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def check_value(
    value: Any, type_name: str, where: str, owner: tuple[str, str] = ("", "")
) -> list[str]:
    """Problems of a JSON value against a generated type name (``[]`` when it conforms)."""
    if value is None:
        return []  # proto3 JSON: null means the default value
    bad = [f"{where}: expected {type_name}, got {type(value).__name__} {value!r:.60}"]
    if owner in INT64_FIELDS and type_name.startswith("list["):
        if not isinstance(value, list):
            return bad
        return [
            p for i, v in enumerate(value) for p in check_value(v, "str", f"{where}[{i}]", owner)
        ]
    if owner in INT64_FIELDS:
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None
        )
        return [] if ok else bad
    if type_name == "str":
        return [] if isinstance(value, str) else bad
    if type_name == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok or (isinstance(value, str) and value.lstrip("-").isdigit()) else bad
    if type_name == "float":
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else bad
    if type_name == "bool":
        return [] if isinstance(value, bool) else bad
    if type_name == "object":
        return []
    if type_name == "datetime":
        try:
            datetime.fromisoformat(str(value))
        except ValueError:
            return bad
        return []
    if match := re.fullmatch(r"list\[(.+)\]", type_name):
        if not isinstance(value, list):
            return bad
        return [p for i, v in enumerate(value) for p in check_value(v, match[1], f"{where}[{i}]")]
    if match := re.fullmatch(r"dict\(str, (.+)\)", type_name):
        if not isinstance(value, dict):
            return bad
        return [p for k, v in value.items() for p in check_value(v, match[1], f"{where}.{k}")]
    model = getattr(models, type_name, None)
    if model is None:
        return [f"{where}: the contract has no type {type_name}"]
    allowed = getattr(model, "allowable_values", None)
    if allowed is not None:  # an enum: by name, or by number (proto3 JSON)
        if isinstance(value, str) and value in allowed:
            return []
        return [] if isinstance(value, int) and 0 <= value < len(allowed) else bad
    if not isinstance(value, dict):
        return bad
    by_key = {json_key: attr for attr, json_key in model.attribute_map.items()}
    by_key.update({_camel(json_key): attr for json_key, attr in list(by_key.items())})
    problems = []
    for key, item in value.items():
        attr = by_key.get(key)
        if attr is None:
            problems.append(f"{where}: field '{key}' is not defined by {type_name}")
        else:
            problems += check_value(
                item, model.openapi_types[attr], f"{where}.{key}", (type_name, attr)
            )
    return problems


@dataclass(frozen=True)
class PipelinePackage:
    """An uploaded pipeline, parsed.

    Attributes:
        spec: The pipeline spec document as the protobuf.
        platform: The platform spec document, if the package has one.
        stored: What the API keeps as the version's ``pipeline_spec``: the pipeline spec
            document, or both as ``{"pipeline_spec": ..., "platform_spec": ...}``.
    """

    spec: pipeline_spec_pb2.PipelineSpec
    platform: pipeline_spec_pb2.PlatformSpec | None
    stored: dict


def _parse_message(doc: Any, message: Any, what: str) -> Any:
    if not isinstance(doc, dict):
        raise ValueError(f"{what}: expected a mapping, got {type(doc).__name__}")
    try:
        return json_format.ParseDict(doc, message, ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise ValueError(f"{what}: {exc}") from exc


def parse_pipeline_package(docs: list[Any]) -> PipelinePackage:
    """Parse a compiled pipeline's YAML documents strictly, as the protobufs define them.

    Args:
        docs: The YAML documents: the pipeline spec, then optionally the platform spec.

    Returns:
        The parsed package.

    Raises:
        ValueError: Naming the document and the field that does not parse, or the
            reference (task -> component -> executor) that points nowhere.
    """
    if len(docs) not in (1, 2):
        raise ValueError(f"expected 1 or 2 YAML documents (pipeline, platform), got {len(docs)}")
    spec = _parse_message(docs[0], pipeline_spec_pb2.PipelineSpec(), "pipeline spec")
    if not spec.schema_version or not spec.pipeline_info.name:
        raise ValueError("pipeline spec: schemaVersion and pipelineInfo.name must be set")
    # deploymentSpec is a Struct in the proto: its executors are checked by name only.
    executors = set(json_format.MessageToDict(spec.deployment_spec).get("executors") or {})
    for component_name, component in [("root", spec.root), *spec.components.items()]:
        if component.executor_label and component.executor_label not in executors:
            raise ValueError(
                f"pipeline spec: component {component_name} names executor "
                f"{component.executor_label!r}, which deploymentSpec does not define"
            )
        for task_name, task in component.dag.tasks.items():
            if task.component_ref.name not in spec.components:
                raise ValueError(
                    f"pipeline spec: task {task_name} of {component_name} refers to "
                    f"component {task.component_ref.name!r}, which is not defined"
                )
    platform = None
    if len(docs) == 2:
        platform = _parse_message(docs[1], pipeline_spec_pb2.PlatformSpec(), "platform spec")
        for platform_name, single in platform.platforms.items():
            for label, config in single.deployment_spec.executors.items():
                if label not in executors:
                    raise ValueError(
                        f"platform spec: {platform_name} executor {label!r} is not an "
                        "executor of the pipeline spec"
                    )
                if platform_name == "kubernetes":
                    _parse_message(
                        json_format.MessageToDict(config),
                        KubernetesExecutorConfig(),
                        f"platform spec: kubernetes executor {label}",
                    )
    stored = docs[0] if platform is None else {"pipeline_spec": docs[0], "platform_spec": docs[1]}
    return PipelinePackage(spec=spec, platform=platform, stored=stored)


_TYPES = pipeline_spec_pb2.ParameterType


def _type_fits(kind: int, value: Any) -> bool:
    """Whether a JSON run parameter fits a ``ParameterType`` (proto3 JSON numbers are doubles)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == _TYPES.NUMBER_INTEGER:
        return number and float(value).is_integer()
    if kind == _TYPES.NUMBER_DOUBLE:
        return number
    if kind == _TYPES.STRING:
        return isinstance(value, str)
    if kind == _TYPES.BOOLEAN:
        return isinstance(value, bool)
    if kind == _TYPES.LIST:
        return isinstance(value, list)
    if kind == _TYPES.STRUCT:
        return isinstance(value, dict)
    return False  # TASK_FINAL_STATUS / TASK_CONFIG are set by the backend, never by a run


def check_run_parameters(spec: pipeline_spec_pb2.PipelineSpec, parameters: dict) -> list[str]:
    """Problems of a run's parameters against the pipeline's ``root.inputDefinitions``."""
    inputs = spec.root.input_definitions.parameters
    pipeline = spec.pipeline_info.name
    problems = [
        f"run parameter '{name}' is not an input of pipeline '{pipeline}' "
        f"(inputs: {', '.join(sorted(inputs))})"
        for name in sorted(set(parameters) - set(inputs))
    ]
    for name, value in sorted(parameters.items()):
        if name not in inputs:
            continue
        kind = inputs[name].parameter_type
        if value is None and inputs[name].is_optional:
            continue
        if not _type_fits(kind, value):
            problems.append(
                f"run parameter '{name}' is {type(value).__name__} {value!r:.40}, but pipeline "
                f"'{pipeline}' declares it {_TYPES.ParameterTypeEnum.Name(kind)}"
            )
    for name, definition in sorted(inputs.items()):
        if name not in parameters and not definition.HasField("default_value"):
            if not definition.is_optional:
                problems.append(
                    f"required run parameter '{name}' of pipeline '{pipeline}' is missing"
                )
    return problems


@dataclass
class Call:
    """One request as the server received it."""

    operation: str
    method: str
    path: str
    path_params: dict[str, str]
    query: dict[str, str]
    body: Any = None
    files: dict[str, bytes] = field(default_factory=dict)


class ApiError(Exception):
    """An error answer: HTTP status plus a google.rpc.Status body."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _new_id() -> str:
    return str(uuid.uuid4())


class KfpApiServer:
    """The stand-in server; use as a context manager, or ``start()`` / ``stop()``.

    Args:
        token: If set, every request must carry ``Authorization: Bearer <token>`` (else 401),
            as an authenticating proxy in front of the API server would demand.
        forbidden_namespaces: Namespaces whose use is answered with 403.
        multi_user: Report multi-user mode in healthz and require a namespace where the
            multi-user API server does (uploads, experiments).
        polls_until_done: How many ``GET /runs/{id}`` answer RUNNING before the final state.
        final_state: The state a run ends in.
        login_redirect: Answer every request with a 302 to a login page, as an OIDC proxy
            (oauth2-proxy, Dex) in front of a Kubeflow deployment does without a session.
        failing_operations: Operations answered 500 after their request was checked, as
            an API server whose database is down answers.
    """

    def __init__(
        self,
        token: str | None = None,
        forbidden_namespaces: tuple[str, ...] = (),
        multi_user: bool = False,
        polls_until_done: int = 2,
        final_state: str = "SUCCEEDED",
        login_redirect: bool = False,
        failing_operations: tuple[str, ...] = (),
    ) -> None:
        self.login_redirect = login_redirect
        self.failing_operations = set(failing_operations)
        self.token = token
        self.forbidden_namespaces = set(forbidden_namespaces)
        self.multi_user = multi_user
        self.polls_until_done = polls_until_done
        self.final_state = final_state
        self.operations = load_contract()
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.pipelines: dict[str, models.V2beta1Pipeline] = {}
        self.versions: dict[str, models.V2beta1PipelineVersion] = {}
        #: The parsed package of each version, by version id.
        self.packages: dict[str, PipelinePackage] = {}
        self.experiments: dict[str, models.V2beta1Experiment] = {}
        self.runs: dict[str, models.V2beta1Run] = {}
        self.recurring_runs: dict[str, models.V2beta1RecurringRun] = {}
        self._polls: dict[str, int] = {}
        self._lock = threading.Lock()
        self._serializer = kfp_server_api.ApiClient()
        self._httpd: ThreadingHTTPServer | None = None
        self._url = ""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> KfpApiServer:
        """Listen on a free loopback port in a background thread."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._handle(self)

            do_POST = do_DELETE = do_PATCH = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Shut the listener down."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> KfpApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (kept after ``stop()`` for assertions on links)."""
        return self._url

    def calls_to(self, operation: str) -> list[Call]:
        """The recorded calls of one operation, e.g. ``run_service_create_run``."""
        return [c for c in self.calls if c.operation == operation]

    # -- HTTP plumbing -----------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        if self.login_redirect:
            req.send_response(HTTPStatus.FOUND)
            req.send_header("Location", "/dex/auth?client_id=kubeflow-oidc-authservice")
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        try:
            status, payload = self._dispatch(req)
        except ApiError as err:
            status = err.status
            payload = models.GoogleRpcStatus(code=err.code, message=err.message)
        data = json.dumps(self._serializer.sanitize_for_serialization(payload)).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    def _violation(self, message: str) -> ApiError:
        self.violations.append(message)
        return ApiError(HTTPStatus.BAD_REQUEST, RPC_INVALID_ARGUMENT, f"contract: {message}")

    def _dispatch(self, req: BaseHTTPRequestHandler) -> tuple[int, Any]:
        split = urlsplit(req.path)
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        if self.token and req.headers.get("Authorization") != f"Bearer {self.token}":
            raise ApiError(HTTPStatus.UNAUTHORIZED, RPC_UNAUTHENTICATED, "Unauthenticated")
        for op in self.operations:
            match = op.pattern.match(split.path)
            if op.method == req.command and match:
                break
        else:
            raise self._violation(f"{req.command} {split.path} is not an operation of v2beta1")
        values = [unquote(v) for v in match.groups()]
        call = Call(
            operation=op.name,
            method=req.command,
            path=split.path,
            path_params=dict(zip(op.path_params, values, strict=True)),
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
        )
        with self._lock:
            self.calls.append(call)
            self._check_request(op, call, req.headers.get("Content-Type", ""), raw)
            namespaces = {call.query.get("namespace")}
            if isinstance(call.body, dict):
                namespaces.add(call.body.get("namespace"))
            if namespaces & self.forbidden_namespaces:
                raise ApiError(
                    HTTPStatus.FORBIDDEN, RPC_PERMISSION_DENIED, "PermissionDenied: namespace"
                )
            if op.name in self.failing_operations:
                raise ApiError(
                    HTTPStatus.INTERNAL_SERVER_ERROR, RPC_INTERNAL, "Internal error: database"
                )
            handler = getattr(self, f"_op_{op.name}", None)
            if handler is None:
                raise ApiError(
                    HTTPStatus.NOT_IMPLEMENTED, RPC_UNIMPLEMENTED, f"{op.name}: not in stand-in"
                )
            result = handler(call)
            # The stand-in itself must conform ("object": an empty JSON object, as deletes answer).
            conforms = type(result).__name__ == op.response_type or (
                op.response_type == "object" and result == {}
            )
            if not conforms:
                raise self._violation(f"{op.name} answered {type(result).__name__}")
            return HTTPStatus.OK, result

    def _check_request(self, op: Operation, call: Call, content_type: str, raw: bytes) -> None:
        unknown = sorted(set(call.query) - set(op.query_params))
        if unknown:
            raise self._violation(f"{op.name}: query parameter(s) {unknown} not in the contract")
        problems = [
            p
            for name, value in call.query.items()
            for p in check_value(value, op.query_params[name], f"{op.name}?{name}")
        ]
        if "filter" in call.query:
            try:
                problems += check_value(json.loads(call.query["filter"]), "V2beta1Filter", "filter")
            except json.JSONDecodeError:
                problems.append(f"{op.name}: filter is not JSON")
        if op.files:
            if not content_type.startswith("multipart/form-data"):
                problems.append(f"{op.name}: expected multipart/form-data, got {content_type!r}")
            else:
                call.files = _parse_multipart(content_type, raw)
                extra = sorted(set(call.files) - set(op.files))
                missing = sorted(set(op.files) - set(call.files))
                if extra or missing:
                    problems.append(f"{op.name}: form fields extra {extra}, missing {missing}")
        elif op.body_model:
            try:
                call.body = json.loads(raw or b"null")
            except json.JSONDecodeError:
                problems.append(f"{op.name}: body is not JSON")
            else:
                if not isinstance(call.body, dict):
                    problems.append(f"{op.name}: body must be a {op.body_model} object")
                else:
                    problems += check_value(call.body, op.body_model, op.body_model)
        elif raw:
            problems.append(f"{op.name}: takes no body")
        if problems:
            raise self._violation("; ".join(problems))

    # -- the operations kfp.Client uses for upload, run and schedule ---------------------------

    def _op_healthz_service_get_healthz(self, call: Call) -> Any:
        return models.V2beta1GetHealthzResponse(multi_user=self.multi_user, pipeline_store="db")

    def _require_namespace(self, namespace: str | None, what: str) -> str:
        if self.multi_user and not namespace:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, RPC_INVALID_ARGUMENT, f"{what}: Namespace is required"
            )
        return namespace or ""

    def _read_spec(self, call: Call) -> PipelinePackage:
        try:
            docs = [d for d in yaml.safe_load_all(call.files["uploadfile"]) if d]
        except yaml.YAMLError as exc:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, RPC_INVALID_ARGUMENT, f"bad YAML: {exc}"
            ) from exc
        try:
            return parse_pipeline_package(docs)
        except ValueError as exc:
            raise self._violation(f"{call.operation}: {exc}") from exc

    def _add_version(
        self, pipeline_id: str, name: str, description: str, package: PipelinePackage
    ) -> Any:
        if any(
            v.pipeline_id == pipeline_id and v.display_name == name for v in self.versions.values()
        ):
            raise ApiError(
                HTTPStatus.CONFLICT, RPC_ALREADY_EXISTS, "Failed to create a pipeline version"
            )
        version = models.V2beta1PipelineVersion(
            pipeline_id=pipeline_id,
            pipeline_version_id=_new_id(),
            name=name,
            display_name=name,
            description=description,
            created_at=_now(),
            pipeline_spec=package.stored,
        )
        self.versions[version.pipeline_version_id] = version
        self.packages[version.pipeline_version_id] = package
        return version

    def _op_upload_pipeline(self, call: Call) -> Any:
        package = self._read_spec(call)
        namespace = self._require_namespace(call.query.get("namespace"), "upload")
        name = call.query.get("display_name") or call.query.get("name") or "pipeline"
        if any(
            p.display_name == name and p.namespace == namespace for p in self.pipelines.values()
        ):
            raise ApiError(
                HTTPStatus.CONFLICT, RPC_ALREADY_EXISTS, "Failed to create a pipeline and version"
            )
        description = call.query.get("description", "")
        pipeline = models.V2beta1Pipeline(
            pipeline_id=_new_id(),
            name=name,
            display_name=name,
            description=description,
            created_at=_now(),
            namespace=namespace,
        )
        self.pipelines[pipeline.pipeline_id] = pipeline
        # As the real server: the first version carries the pipeline's name.
        self._add_version(pipeline.pipeline_id, name, description, package)
        return pipeline

    def _op_upload_pipeline_version(self, call: Call) -> Any:
        package = self._read_spec(call)
        pipeline_id = call.query.get("pipelineid", "")
        if pipeline_id not in self.pipelines:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, RPC_INVALID_ARGUMENT, "Failed to create a version"
            )
        name = call.query.get("display_name") or call.query.get("name") or "version"
        return self._add_version(pipeline_id, name, call.query.get("description", ""), package)

    def _op_pipeline_service_list_pipelines(self, call: Call) -> Any:
        namespace = call.query.get("namespace", "")
        found = [
            p
            for p in self.pipelines.values()
            if p.namespace == namespace and _matches(p, call.query.get("filter"))
        ]
        return models.V2beta1ListPipelinesResponse(pipelines=found, total_size=len(found))

    def _op_pipeline_service_list_pipeline_versions(self, call: Call) -> Any:
        pipeline_id = call.path_params["pipeline_id"]
        if pipeline_id not in self.pipelines:
            raise ApiError(HTTPStatus.NOT_FOUND, RPC_NOT_FOUND, f"pipeline {pipeline_id} not found")
        found = [
            v
            for v in self.versions.values()
            if v.pipeline_id == pipeline_id and _matches(v, call.query.get("filter"))
        ]
        found.sort(key=lambda v: v.created_at, reverse="desc" in call.query.get("sort_by", ""))
        return models.V2beta1ListPipelineVersionsResponse(
            pipeline_versions=found, total_size=len(found)
        )

    def _op_experiment_service_list_experiments(self, call: Call) -> Any:
        namespace = call.query.get("namespace", "")
        found = [
            e
            for e in self.experiments.values()
            if (e.namespace or "") == namespace and _matches(e, call.query.get("filter"))
        ]
        return models.V2beta1ListExperimentsResponse(experiments=found, total_size=len(found))

    def _op_experiment_service_create_experiment(self, call: Call) -> Any:
        body = call.body
        if not body.get("display_name"):
            raise ApiError(HTTPStatus.BAD_REQUEST, RPC_INVALID_ARGUMENT, "display_name required")
        namespace = self._require_namespace(body.get("namespace"), "experiment")
        if any(
            e.display_name == body["display_name"] and (e.namespace or "") == namespace
            for e in self.experiments.values()
        ):
            raise ApiError(HTTPStatus.CONFLICT, RPC_ALREADY_EXISTS, "experiment already exists")
        experiment = models.V2beta1Experiment(
            experiment_id=_new_id(),
            display_name=body["display_name"],
            description=body.get("description") or "",
            namespace=namespace,
            created_at=_now(),
            storage_state="AVAILABLE",
        )
        self.experiments[experiment.experiment_id] = experiment
        return experiment

    def _resolve_pipeline(
        self, body: dict, what: str
    ) -> models.V2beta1PipelineVersionReference | None:
        """The version a run body references (or its inline spec), its parameters checked."""
        if body.get("experiment_id") and body["experiment_id"] not in self.experiments:
            raise ApiError(HTTPStatus.NOT_FOUND, RPC_NOT_FOUND, "experiment not found")
        ref = body.get("pipeline_version_reference")
        if body.get("pipeline_spec") is not None and not ref:
            inline = body["pipeline_spec"]  # kfp.Client sends a package given as a file inline
            docs = (
                [inline["pipeline_spec"], inline["platform_spec"]]
                if (isinstance(inline, dict) and "platform_spec" in inline)
                else [inline]
            )
            try:
                package = parse_pipeline_package(docs)
            except ValueError as exc:
                raise self._violation(f"{what}: {exc}") from exc
        else:
            ref = ref or {}
            version = self.versions.get(ref.get("pipeline_version_id", ""))
            if version is None or version.pipeline_id != ref.get("pipeline_id"):
                raise ApiError(
                    HTTPStatus.BAD_REQUEST, RPC_INVALID_ARGUMENT, f"unknown pipeline version {ref}"
                )
            package = self.packages[version.pipeline_version_id]
        parameters = (body.get("runtime_config") or {}).get("parameters") or {}
        problems = check_run_parameters(package.spec, parameters)
        if problems:
            raise self._violation(f"{what}: " + "; ".join(problems))
        return models.V2beta1PipelineVersionReference(**ref) if ref else None

    def _op_run_service_create_run(self, call: Call) -> Any:
        body = call.body
        ref = self._resolve_pipeline(body, "run")
        config = body.get("runtime_config") or {}
        run = models.V2beta1Run(
            run_id=_new_id(),
            experiment_id=body.get("experiment_id"),
            display_name=body.get("display_name"),
            pipeline_version_reference=ref,
            pipeline_spec=body.get("pipeline_spec") if ref is None else None,
            runtime_config=models.V2beta1RuntimeConfig(**config),
            service_account=body.get("service_account") or "pipeline-runner",
            created_at=_now(),
            state="PENDING",
            storage_state="AVAILABLE",
        )
        self.runs[run.run_id] = run
        self._polls[run.run_id] = 0
        return run

    def _op_run_service_get_run(self, call: Call) -> Any:
        run = self.runs.get(call.path_params["run_id"])
        if run is None:
            raise ApiError(HTTPStatus.NOT_FOUND, RPC_NOT_FOUND, "run not found")
        self._polls[run.run_id] += 1
        if self._polls[run.run_id] > self.polls_until_done:
            run.state, run.finished_at = self.final_state, run.finished_at or _now()
        else:
            run.state = "RUNNING"
        return run

    def _op_recurring_run_service_create_recurring_run(self, call: Call) -> Any:
        body = call.body
        ref = self._resolve_pipeline(body, "recurring run")
        trigger = body.get("trigger") or {}
        if not trigger.get("cron_schedule") and not trigger.get("periodic_schedule"):
            raise ApiError(HTTPStatus.BAD_REQUEST, RPC_INVALID_ARGUMENT, "trigger required")
        recurring = models.V2beta1RecurringRun(
            recurring_run_id=_new_id(),
            display_name=body.get("display_name"),
            experiment_id=body.get("experiment_id"),
            pipeline_version_reference=ref,
            pipeline_spec=body.get("pipeline_spec") if ref is None else None,
            runtime_config=models.V2beta1RuntimeConfig(**(body.get("runtime_config") or {})),
            trigger=models.V2beta1Trigger(
                cron_schedule=models.V2beta1CronSchedule(**trigger["cron_schedule"])
                if trigger.get("cron_schedule")
                else None
            ),
            max_concurrency=str(body.get("max_concurrency") or 1),
            mode=body.get("mode") or "ENABLE",
            status="ENABLED" if body.get("mode", "ENABLE") == "ENABLE" else "DISABLED",
            no_catchup=body.get("no_catchup"),
            created_at=_now(),
            updated_at=_now(),
        )
        self.recurring_runs[recurring.recurring_run_id] = recurring
        return recurring

    def _op_recurring_run_service_list_recurring_runs(self, call: Call) -> Any:
        experiment_id = call.query.get("experiment_id")
        found = [
            r
            for r in self.recurring_runs.values()
            if experiment_id in (None, r.experiment_id) and _matches(r, call.query.get("filter"))
        ]
        return models.V2beta1ListRecurringRunsResponse(recurring_runs=found, total_size=len(found))

    def _op_recurring_run_service_delete_recurring_run(self, call: Call) -> Any:
        if self.recurring_runs.pop(call.path_params["recurring_run_id"], None) is None:
            raise ApiError(HTTPStatus.NOT_FOUND, RPC_NOT_FOUND, "recurring run not found")
        return {}


def _parse_multipart(content_type: str, raw: bytes) -> dict[str, bytes]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    return {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
        for part in message.iter_parts()
    }


def _matches(item: Any, filter_json: str | None) -> bool:
    """Whether a model passes a v2beta1 Filter (EQUALS / NOT_EQUALS on string fields)."""
    if not filter_json:
        return True
    for predicate in json.loads(filter_json).get("predicates", []):
        op = predicate.get("operation")
        expected = predicate.get("string_value", predicate.get("stringValue"))
        actual = getattr(item, predicate.get("key", ""), None)
        if op in ("EQUALS", 1) and actual != expected:
            return False
        if op in ("NOT_EQUALS", 2) and actual == expected:
            return False
    return True
