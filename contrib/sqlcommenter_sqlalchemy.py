"""sqlcommenter_sqlalchemy.py - sqlcommenter tags on every statement of a SQLAlchemy app, for
slowtap (and anything else that reads sqlcommenter comments: pt-query-digest's --group-by
Route on slowtap's log, Cloud SQL insights, ...). One file, no dependency beyond SQLAlchemy;
copy it next to your application.

    import sqlcommenter_sqlalchemy
    sqlcommenter_sqlalchemy.install()           # every engine (or install(engine))

Each statement then ends with a comment such as

    SELECT ... /*controller='roster',framework='sqlalchemy%3A1.4.46',route='%2Froster%2F%3Cint%3Aclass_id%3E',traceparent='00-...-...-00'*/

and slowtap shows it per route (dashboard, /api/routes, `slowtap report --group-by route`).

Where the tags come from, per statement:
- Flask (when it is importable and the statement runs inside a request): route is the URL rule
  (`/roster/<int:class_id>`, not the URL: one route for every class), controller the endpoint.
- Any app: what the application set for the current context (a contextvars.ContextVar, so
  threads and asyncio tasks each have their own), which wins over Flask's:

      with sqlcommenter_sqlalchemy.tags(route="/nightly-export", controller="export"):
          session.execute(...)

- traceparent: the current OpenTelemetry span's, when opentelemetry-api is importable and a
  span is recording; else, inside a Flask request, one trace id per request (flags 00: not
  sampled, made up here) so that slowtap tells one request's statements from the next;
  else none (slowtap then splits requests by its idle-gap rule).
- framework: `sqlalchemy:<version>`, which tells slowtap which ORM's fix to suggest for an
  N+1 (selectinload / joinedload).

Format (https://google.github.io/sqlcommenter/spec/): `/*k='v',...*/` appended after a space,
keys sorted, keys and values URL-encoded (so a value never holds a quote or `*/`). Drivers
whose paramstyle is format or pyformat (PyMySQL, mysqlclient, psycopg2) run `statement %
parameters` whenever parameters are passed, so every `%` the comment adds is written `%%`
there (`'%2Froster'` pasted as is makes PyMySQL fail with "not enough arguments for format
string"); statements run without parameters are left as they are.

A statement that already carries a sqlcommenter comment (it has `traceparent=` or `route=` in
a trailing comment) is not tagged twice. Nothing here raises into the application: a tag that
cannot be computed is left out.
"""

import contextlib
import contextvars
import secrets
import urllib.parse

__all__ = ["install", "uninstall", "tags", "set_tags", "reset_tags", "comment"]

_TAGS = contextvars.ContextVar("sqlcommenter_tags", default=None)

try:  # OpenTelemetry's API, when the application has it
    from opentelemetry import trace as _otel_trace
except ImportError:  # pragma: no cover - depends on the installation
    _otel_trace = None

try:
    import flask as _flask
except ImportError:  # pragma: no cover
    _flask = None


def set_tags(**kv):
    """Sets the tags of the current context (threads and asyncio tasks each have their own);
    returns a token for reset_tags. A value of None leaves that tag out."""
    cur = dict(_TAGS.get() or {})
    cur.update(kv)
    return _TAGS.set(cur)


def reset_tags(token):
    """Restores the tags set_tags replaced."""
    _TAGS.reset(token)


@contextlib.contextmanager
def tags(**kv):
    """`with tags(route="/x", controller="y"):` tags the statements run inside the block."""
    token = set_tags(**kv)
    try:
        yield
    finally:
        reset_tags(token)


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


def _flask_tags(out, traceparent):
    if _flask is None or not _flask.has_request_context():
        return
    req = _flask.request
    if req.url_rule is not None:
        out["route"] = req.url_rule.rule
    if req.endpoint:
        out["controller"] = req.endpoint
    if traceparent and "traceparent" not in out:
        g = _flask.g
        trace = g.get("_sqlcommenter_trace")
        if trace is None:
            trace = secrets.token_hex(16)
            g._sqlcommenter_trace = trace
        out["traceparent"] = "00-%s-%s-00" % (trace, secrets.token_hex(8))


def _already_tagged(statement):
    tail = statement[statement.rfind("/*"):] if "/*" in statement else ""
    return "traceparent=" in tail or "route=" in tail


def _tags_now(framework, traceparent):
    out = {"framework": framework}
    tp = _otel_traceparent() if traceparent else None
    if tp:
        out["traceparent"] = tp
    _flask_tags(out, traceparent)
    for k, v in (_TAGS.get() or {}).items():  # the application's own win
        out[k] = v
    return out


def _make_listener(traceparent):
    import sqlalchemy
    framework = "sqlalchemy:%s" % sqlalchemy.__version__

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
        try:
            if _already_tagged(statement):
                return statement, parameters
            c = comment(_tags_now(framework, traceparent))
            if not c:
                return statement, parameters
            style = getattr(conn.dialect, "paramstyle", "")
            # the driver runs `statement % parameters` unless SQLAlchemy passes none at all
            no_params = not parameters and context is not None and context.no_parameters
            if style in ("format", "pyformat") and not no_params:
                c = c.replace("%", "%%")
            return "%s %s" % (statement, c), parameters
        except Exception:  # never fail the application's statement for a tag
            return statement, parameters

    return before_cursor_execute


_installed = {}


def install(engine=None, traceparent=True):
    """Tags every statement of `engine` (an Engine or AsyncEngine, or Flask-SQLAlchemy's
    db.engine), or of every engine when None. traceparent=False leaves the traceparent tag out (then no request
    id is made up in Flask; OpenTelemetry's is left out too). Installing twice is harmless."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    target = Engine if engine is None else getattr(engine, "sync_engine", engine)  # AsyncEngine
    if id(target) in _installed:
        return
    fn = _make_listener(traceparent)
    event.listen(target, "before_cursor_execute", fn, retval=True)
    _installed[id(target)] = (target, fn)


def uninstall(engine=None):
    """Undoes install(engine)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    target = Engine if engine is None else getattr(engine, "sync_engine", engine)
    entry = _installed.pop(id(target), None)
    if entry:
        event.remove(entry[0], "before_cursor_execute", entry[1])
