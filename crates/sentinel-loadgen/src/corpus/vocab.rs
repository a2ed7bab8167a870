//! The fixed material events are made of: the application's feature areas, framework and library
//! call chains, exception kinds and installed packages of a typical Django or Flask service.

/// One frame of library code (not in-app): module, function, line number and the source line.
pub(crate) struct LibFrame {
    pub module: &'static str,
    pub function: &'static str,
    pub lineno: u32,
    pub line: &'static str,
}

const fn lib(module: &'static str, function: &'static str, lineno: u32, line: &'static str) -> LibFrame {
    LibFrame {
        module,
        function,
        lineno,
        line,
    }
}

/// Feature areas of the application: `app.<area>.views`, `app.<area>.services`, …
/// Each pairs the package name with the singular noun used in function and variable names.
pub(crate) const AREAS: [(&str, &str); 12] = [
    ("orders", "order"),
    ("billing", "invoice"),
    ("customers", "customer"),
    ("inventory", "stock_item"),
    ("shipping", "shipment"),
    ("reports", "report"),
    ("accounts", "account"),
    ("notifications", "notification"),
    ("search", "query"),
    ("webhooks", "webhook"),
    ("catalog", "product"),
    ("checkout", "cart"),
];

/// Verbs of service functions; with the areas they name 120 distinct in-app call paths.
pub(crate) const VERBS: [&str; 10] = [
    "load",
    "sync",
    "validate",
    "compute",
    "render",
    "apply",
    "refresh",
    "export",
    "reconcile",
    "dispatch",
];

/// Helpers the service layer calls into, as (module, function, line calling the next frame).
pub(crate) const HELPERS: [(&str, &str); 8] = [
    ("app.core.db", "fetch_one"),
    ("app.core.http", "request_json"),
    ("app.core.cache", "cached"),
    ("app.core.money", "to_minor_units"),
    ("app.core.tenancy", "for_tenant"),
    ("app.core.serializers", "dump"),
    ("app.core.retry", "with_retries"),
    ("app.core.audit", "record"),
];

/// View actions (DRF viewset methods / Flask view functions) and the HTTP method they serve.
pub(crate) const ACTIONS: [(&str, &str); 6] = [
    ("retrieve", "GET"),
    ("list", "GET"),
    ("create", "POST"),
    ("update", "PUT"),
    ("partial_update", "PATCH"),
    ("destroy", "DELETE"),
];

/// Django + Django REST framework request handling, outermost first.
pub(crate) const DJANGO_CHAIN: [LibFrame; 9] = [
    lib(
        "django.core.handlers.exception",
        "inner",
        55,
        "response = get_response(request)",
    ),
    lib(
        "django.core.handlers.base",
        "_get_response",
        197,
        "response = wrapped_callback(request, *callback_args, **callback_kwargs)",
    ),
    lib(
        "sentry_sdk.integrations.django.views",
        "sentry_wrapped_callback",
        94,
        "return callback(request, *args, **kwargs)",
    ),
    lib(
        "django.views.decorators.csrf",
        "_view_wrapper",
        65,
        "return view_func(request, *args, **kwargs)",
    ),
    lib(
        "rest_framework.viewsets",
        "view",
        124,
        "return self.dispatch(request, *args, **kwargs)",
    ),
    lib(
        "rest_framework.views",
        "dispatch",
        515,
        "response = self.handle_exception(exc)",
    ),
    lib(
        "rest_framework.views",
        "handle_exception",
        475,
        "self.raise_uncaught_exception(exc)",
    ),
    lib(
        "rest_framework.views",
        "raise_uncaught_exception",
        486,
        "raise exc",
    ),
    lib(
        "rest_framework.views",
        "dispatch",
        512,
        "response = handler(request, *args, **kwargs)",
    ),
];

/// Flask request handling, outermost first.
pub(crate) const FLASK_CHAIN: [LibFrame; 6] = [
    lib(
        "flask.app",
        "wsgi_app",
        1511,
        "response = self.full_dispatch_request()",
    ),
    lib(
        "flask.app",
        "full_dispatch_request",
        919,
        "rv = self.handle_user_exception(e)",
    ),
    lib(
        "flask_cors.extension",
        "wrapped_function",
        176,
        "return cors_after_request(app.make_response(f(*args, **kwargs)))",
    ),
    lib(
        "flask.app",
        "full_dispatch_request",
        917,
        "rv = self.dispatch_request()",
    ),
    lib(
        "flask.app",
        "dispatch_request",
        902,
        "return self.ensure_sync(self.view_functions[rule.endpoint])(**view_args)",
    ),
    lib(
        "flask_login.utils",
        "decorated_view",
        290,
        "return current_app.ensure_sync(func)(*args, **kwargs)",
    ),
];

/// How an exception kind's message varies; `{…}` placeholders are filled per event.
pub(crate) struct ExceptionKind {
    pub ty: &'static str,
    /// `None` for builtins, as sentry-python sends it.
    pub module: Option<&'static str>,
    pub value: &'static str,
    /// The application line that calls into `tail` (or raises, when `tail` is empty).
    pub app_line: &'static str,
    /// Library frames between the application and the raise, outermost first.
    pub tail: &'static [LibFrame],
}

const QUERY_GET: [LibFrame; 2] = [
    lib(
        "django.db.models.manager",
        "manager_method",
        87,
        "return getattr(self.get_queryset(), name)(*args, **kwargs)",
    ),
    lib(
        "django.db.models.query",
        "get",
        649,
        "raise self.model.DoesNotExist(",
    ),
];

const DB_EXECUTE: [LibFrame; 5] = [
    lib(
        "django.db.models.sql.compiler",
        "execute_sql",
        1574,
        "cursor.execute(sql, params)",
    ),
    lib(
        "django.db.backends.utils",
        "execute",
        79,
        "return self._execute_with_wrappers(",
    ),
    lib(
        "django.db.backends.utils",
        "_execute",
        100,
        "with self.db.wrap_database_errors:",
    ),
    lib(
        "django.db.utils",
        "__exit__",
        91,
        "raise dj_exc_value.with_traceback(traceback) from exc_value",
    ),
    lib("psycopg.cursor", "execute", 732, "raise ex.with_traceback(None)"),
];

const DB_INSERT: [LibFrame; 4] = [
    lib("django.db.models.base", "save", 892, "self.save_base("),
    lib(
        "django.db.models.base",
        "_do_insert",
        1157,
        "return manager._insert(",
    ),
    lib(
        "django.db.backends.utils",
        "_execute",
        105,
        "return self.cursor.execute(sql, params)",
    ),
    lib("psycopg.cursor", "execute", 732, "raise ex.with_traceback(None)"),
];

const REQUESTS_POST: [LibFrame; 4] = [
    lib(
        "requests.api",
        "post",
        115,
        "return request(\"post\", url, data=data, json=json, **kwargs)",
    ),
    lib(
        "requests.sessions",
        "request",
        589,
        "resp = self.send(prep, **send_kwargs)",
    ),
    lib(
        "requests.sessions",
        "send",
        703,
        "r = adapter.send(request, **kwargs)",
    ),
    lib(
        "requests.adapters",
        "send",
        700,
        "raise ConnectionError(e, request=request)",
    ),
];

const REQUESTS_GET: [LibFrame; 4] = [
    lib(
        "requests.sessions",
        "get",
        602,
        "return self.request(\"GET\", url, **kwargs)",
    ),
    lib(
        "requests.sessions",
        "request",
        589,
        "resp = self.send(prep, **send_kwargs)",
    ),
    lib(
        "requests.sessions",
        "send",
        703,
        "r = adapter.send(request, **kwargs)",
    ),
    lib(
        "requests.adapters",
        "send",
        713,
        "raise ReadTimeout(e, request=request)",
    ),
];

const REDIS_GET: [LibFrame; 4] = [
    lib(
        "redis.commands.core",
        "get",
        1829,
        "return self.execute_command(\"GET\", name, keys=[name])",
    ),
    lib(
        "redis.client",
        "execute_command",
        559,
        "return self._execute_command(*args, **options)",
    ),
    lib(
        "redis.client",
        "_execute_command",
        565,
        "conn = self.connection or pool.get_connection(command_name, **options)",
    ),
    lib(
        "redis.connection",
        "connect",
        363,
        "raise ConnectionError(self._error_message(e))",
    ),
];

const JSON_LOADS: [LibFrame; 3] = [
    lib("json", "loads", 346, "return _default_decoder.decode(s)"),
    lib(
        "json.decoder",
        "decode",
        338,
        "obj, end = self.raw_decode(s, idx=_w(s, 0).end())",
    ),
    lib(
        "json.decoder",
        "raw_decode",
        356,
        "raise JSONDecodeError(\"Expecting value\", s, err.value) from None",
    ),
];

const DECIMAL_QUANTIZE: [LibFrame; 1] = [lib(
    "django.utils.numberformat",
    "format",
    58,
    "number = number.quantize(Decimal(1).scaleb(-decimal_pos))",
)];

const CELERY_APPLY: [LibFrame; 3] = [
    lib("celery.app.task", "apply_async", 594, "return app.send_task("),
    lib(
        "kombu.connection",
        "ensure_connection",
        381,
        "self._ensure_connection(*args, **kwargs)",
    ),
    lib("kombu.utils.functional", "retry_over_time", 318, "raise"),
];

pub(crate) const EXCEPTIONS: [ExceptionKind; 18] = [
    ExceptionKind {
        ty: "ZeroDivisionError",
        module: None,
        value: "division by zero",
        app_line: "ratio = completed / total",
        tail: &[],
    },
    ExceptionKind {
        ty: "KeyError",
        module: None,
        value: "'{word}_{n}'",
        app_line: "value = payload[field]",
        tail: &[],
    },
    ExceptionKind {
        ty: "AttributeError",
        module: None,
        value: "'NoneType' object has no attribute '{word}'",
        app_line: "return obj.{word}.strip()",
        tail: &[],
    },
    ExceptionKind {
        ty: "TypeError",
        module: None,
        value: "unsupported operand type(s) for +: 'int' and 'NoneType'",
        app_line: "subtotal = line.quantity + line.bonus_quantity",
        tail: &[],
    },
    ExceptionKind {
        ty: "ValueError",
        module: None,
        value: "invalid literal for int() with base 10: '{word}-{n}'",
        app_line: "item_id = int(request.GET[\"id\"])",
        tail: &[],
    },
    ExceptionKind {
        ty: "DoesNotExist",
        module: Some("app.models"),
        value: "Order matching query does not exist.",
        app_line: "obj = Model.objects.get(pk=pk, tenant_id=tenant.id)",
        tail: &QUERY_GET,
    },
    ExceptionKind {
        ty: "OperationalError",
        module: Some("django.db.utils"),
        value: "connection to server at \"{ip}\", port 5432 failed: timeout expired",
        app_line: "rows = list(qs.select_related(\"customer\")[:limit])",
        tail: &DB_EXECUTE,
    },
    ExceptionKind {
        ty: "IntegrityError",
        module: Some("django.db.utils"),
        value: "duplicate key value violates unique constraint \"app_{word}_external_id_key\"\nDETAIL:  Key (external_id)=(ext-{n}) already exists.",
        app_line: "instance.save()",
        tail: &DB_INSERT,
    },
    ExceptionKind {
        ty: "ConnectionError",
        module: Some("requests.exceptions"),
        value: "HTTPSConnectionPool(host='api.payments.example', port=443): Max retries exceeded with url: /v1/charges/ch_{hex} (Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x{hex}>: Failed to establish a new connection: [Errno 111] Connection refused'))",
        app_line: "resp = requests.post(url, json=body, timeout=10)",
        tail: &REQUESTS_POST,
    },
    ExceptionKind {
        ty: "ReadTimeout",
        module: Some("requests.exceptions"),
        value: "HTTPSConnectionPool(host='hooks.partner-{n}.example', port=443): Read timed out. (read timeout=10)",
        app_line: "resp = self.session.get(endpoint, params=params, timeout=10)",
        tail: &REQUESTS_GET,
    },
    ExceptionKind {
        ty: "ConnectionError",
        module: Some("redis.exceptions"),
        value: "Error 111 connecting to {ip}:6379. Connection refused.",
        app_line: "cached = cache_client.get(cache_key)",
        tail: &REDIS_GET,
    },
    ExceptionKind {
        ty: "JSONDecodeError",
        module: Some("json.decoder"),
        value: "Expecting value: line 1 column {n} (char {n})",
        app_line: "data = json.loads(resp.text)",
        tail: &JSON_LOADS,
    },
    ExceptionKind {
        ty: "PermissionError",
        module: None,
        value: "[Errno 13] Permission denied: '/var/lib/app/exports/{word}-{n}.csv'",
        app_line: "with open(path, \"w\", newline=\"\") as fh:",
        tail: &[],
    },
    ExceptionKind {
        ty: "PaymentDeclined",
        module: Some("app.billing.errors"),
        value: "Payment {n} declined for customer {n}: insufficient_funds",
        app_line: "raise PaymentDeclined(f\"Payment {payment.id} declined for customer {customer.id}: {code}\")",
        tail: &[],
    },
    ExceptionKind {
        ty: "RuntimeError",
        module: None,
        value: "Task {hex} exceeded its deadline of {n}s",
        app_line: "raise RuntimeError(f\"Task {task_id} exceeded its deadline of {deadline}s\")",
        tail: &[],
    },
    ExceptionKind {
        ty: "IndexError",
        module: None,
        value: "list index out of range",
        app_line: "first = rows[0]",
        tail: &[],
    },
    ExceptionKind {
        ty: "InvalidOperation",
        module: Some("decimal"),
        value: "[<class 'decimal.InvalidOperation'>]",
        app_line: "return number_format(amount, decimal_pos=2)",
        tail: &DECIMAL_QUANTIZE,
    },
    ExceptionKind {
        ty: "OperationalError",
        module: Some("kombu.exceptions"),
        value: "[Errno 111] Connection refused (broker amqp://guest@{ip}:5672//, attempt {n})",
        app_line: "task.apply_async(args=[obj.id], countdown=5)",
        tail: &CELERY_APPLY,
    },
];

/// Words that appear in messages, keys and variable values.
pub(crate) const WORDS: [&str; 16] = [
    "amount",
    "currency",
    "customer",
    "sku",
    "quantity",
    "address",
    "status",
    "plan",
    "coupon",
    "region",
    "locale",
    "timezone",
    "vat_number",
    "discount",
    "carrier",
    "warehouse",
];

/// Plausible Python source lines for the context around a frame.
pub(crate) const SOURCE_LINES: [&str; 35] = [
    "",
    "",
    "",
    "",
    "    )",
    "        )",
    "    else:",
    "        pass",
    "    return",
    "    # noqa: E501",
    "    raise",
    "        continue",
    "    try:",
    "    except Exception:",
    "        raise",
    "    return result",
    "    if not self.has_permission(request):",
    "        self.permission_denied(request)",
    "    logger.debug(\"processing %s\", obj_id)",
    "    with transaction.atomic():",
    "    kwargs.setdefault(\"timeout\", self.timeout)",
    "    response = None",
    "    for item in items:",
    "        total += item.amount",
    "    context = self.get_serializer_context()",
    "    if settings.DEBUG:",
    "    self.headers = self.default_response_headers",
    "    span.set_data(\"db.system\", \"postgresql\")",
    "    tenant = get_current_tenant()",
    "    started = time.monotonic()",
    "    metrics.incr(\"calls\", tags={\"view\": name})",
    "    @functools.wraps(func)",
    "    def inner(*args, **kwargs):",
    "    \"\"\"Return the cached value or compute it.\"\"\"",
    "    data = serializer.validated_data",
];

/// Packages installed in the service, as sentry-python's `modules` reports them.
pub(crate) const MODULES_COMMON: [(&str, &str); 30] = [
    ("asgiref", "3.8.1"),
    ("certifi", "2025.1.31"),
    ("charset-normalizer", "3.4.1"),
    ("idna", "3.10"),
    ("requests", "2.32.3"),
    ("urllib3", "2.3.0"),
    ("sentry-sdk", "2.75.0"),
    ("psycopg", "3.2.6"),
    ("psycopg-binary", "3.2.6"),
    ("redis", "5.2.1"),
    ("celery", "5.4.0"),
    ("kombu", "5.4.2"),
    ("billiard", "4.2.1"),
    ("vine", "5.1.0"),
    ("amqp", "5.3.1"),
    ("click", "8.1.8"),
    ("python-dateutil", "2.9.0.post0"),
    ("pytz", "2025.1"),
    ("six", "1.17.0"),
    ("gunicorn", "23.0.0"),
    ("packaging", "24.2"),
    ("pip", "25.0.1"),
    ("setuptools", "75.8.0"),
    ("wheel", "0.45.1"),
    ("typing-extensions", "4.12.2"),
    ("pydantic", "2.10.6"),
    ("pydantic-core", "2.27.2"),
    ("annotated-types", "0.7.0"),
    ("structlog", "25.1.0"),
    ("orjson", "3.10.15"),
];

pub(crate) const MODULES_DJANGO: [(&str, &str); 6] = [
    ("django", "5.1.6"),
    ("djangorestframework", "3.15.2"),
    ("django-filter", "24.3"),
    ("django-cors-headers", "4.7.0"),
    ("django-redis", "5.4.0"),
    ("sqlparse", "0.5.3"),
];

pub(crate) const MODULES_FLASK: [(&str, &str); 7] = [
    ("flask", "3.1.0"),
    ("werkzeug", "3.1.3"),
    ("jinja2", "3.1.5"),
    ("itsdangerous", "2.2.0"),
    ("markupsafe", "3.0.2"),
    ("flask-login", "0.6.3"),
    ("flask-cors", "5.0.0"),
];

/// sentry-python's default integrations plus the auto-enabled ones of this stack.
pub(crate) const INTEGRATIONS_DJANGO: [&str; 12] = [
    "argv",
    "atexit",
    "celery",
    "dedupe",
    "django",
    "excepthook",
    "logging",
    "modules",
    "redis",
    "rust_tracing",
    "stdlib",
    "threading",
];

pub(crate) const INTEGRATIONS_FLASK: [&str; 11] = [
    "argv",
    "atexit",
    "dedupe",
    "excepthook",
    "flask",
    "logging",
    "modules",
    "redis",
    "stdlib",
    "threading",
    "celery",
];

pub(crate) const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.3 Safari/605.1.15",
    "python-requests/2.32.3",
    "okhttp/4.12.0",
];

pub(crate) const REGIONS: [&str; 4] = ["eu-west-1", "eu-central-1", "us-east-1", "ap-southeast-2"];
