"""sqlcommenter_django.py - Django middleware that adds sqlcommenter tags to every statement a
request runs, for slowtap (and anything else that reads sqlcommenter comments). One file, no
dependency beyond Django; copy it into your project and list it in settings.MIDDLEWARE:

    MIDDLEWARE = [
        "sqlcommenter_django.SqlCommenterMiddleware",   # first: it tags what the rest run
        ...
    ]

Each statement of a request then ends with a comment such as

    SELECT ... /*controller='students',framework='django%3A3.2.25',route='%2Fstudents%2F%3Cint%3Acid%3E%2F',traceparent='00-...-...-00'*/

and slowtap shows it per route (dashboard, /api/routes, `slowtap report --group-by route`).

Tags, per statement (read when the statement runs, so after URL resolution):
- route: the URL pattern that matched, request.resolver_match.route, with a leading "/"
  (`/students/<int:cid>/`: one route for every id); left out before resolution.
- controller: the view's name, request.resolver_match.view_name (the URL name with its
  namespace, or the view's dotted path when the URL has no name).
- traceparent: the current OpenTelemetry span's, when opentelemetry-api is importable and a
  span is recording; else one trace id per request (flags 00: not sampled, made up here), so
  that slowtap tells one request's statements from the next.
- framework: `django:<version>`, which tells slowtap which ORM's fix to suggest for an N+1
  (select_related / prefetch_related).

Format (https://google.github.io/sqlcommenter/spec/): `/*k='v',...*/` appended after a space,
keys sorted, keys and values URL-encoded. Django's backends take `%s` placeholders and run
`sql % params` whenever params are given (None: no interpolation), so every `%` the comment
adds is written `%%` then, on every database (the sqlite backend turns `%%` back into `%`).
Statements on every database alias are tagged. Nothing here raises into the application: a tag
that cannot be computed is left out.
"""

import contextlib
import secrets
import urllib.parse

try:  # OpenTelemetry's API, when the application has it
    from opentelemetry import trace as _otel_trace
except ImportError:  # pragma: no cover - depends on the installation
    _otel_trace = None

__all__ = ["SqlCommenterMiddleware", "comment"]


def comment(values):
    """The sqlcommenter comment for a dict of tags: `/*k='v',...*/`, keys sorted, keys and
    values URL-encoded; None values are left out. "" when there is no tag."""
    pairs = ["%s='%s'" % (urllib.parse.quote(str(k), safe=""),
                          urllib.parse.quote(str(v), safe=""))
             for k, v in sorted(values.items()) if v is not None and v != ""]
    return "/*%s*/" % ",".join(pairs) if pairs else ""


def _otel_traceparent():
    if _otel_trace is None:
        return None
    ctx = _otel_trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return "00-%032x-%016x-%02x" % (ctx.trace_id, ctx.span_id, int(ctx.trace_flags))


class SqlCommenterMiddleware:
    """Wraps each request in connection.execute_wrapper (every database alias)."""

    def __init__(self, get_response):
        import django
        self.get_response = get_response
        self.framework = "django:%s" % django.get_version()

    def __call__(self, request):
        from django.db import connections
        trace = secrets.token_hex(16)

        def wrapper(execute, sql, params, many, context):
            try:
                m = getattr(request, "resolver_match", None)
                tags = {"framework": self.framework,
                        "traceparent": _otel_traceparent()
                        or "00-%s-%s-00" % (trace, secrets.token_hex(8))}
                if m is not None:
                    tags["route"] = "/" + m.route if m.route is not None else None
                    tags["controller"] = m.view_name
                c = comment(tags)
                if params is not None:  # the backend runs sql % params: a literal % is %%
                    c = c.replace("%", "%%")
                tagged = "%s %s" % (sql, c)
            except Exception:  # never fail the application's statement for a tag
                tagged = sql
            return execute(tagged, params, many, context)

        with contextlib.ExitStack() as stack:
            for alias in connections:
                stack.enter_context(connections[alias].execute_wrapper(wrapper))
            return self.get_response(request)
