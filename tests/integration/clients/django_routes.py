"""django_routes.py PORT DB - a small Django app (Debian's python3-django, PyMySQL as MySQLdb)
whose middleware wraps connection.execute_wrapper to append sqlcommenter comments, driven with
Django's test client through slowtap on PORT; then a prepared-statement client whose PREPARE
text carries a route. Run by test_routes.py in its own process (Django's settings are global).
"""

import os
import sys
import urllib.parse
import uuid

import pymysql

pymysql.install_as_MySQLdb()
pymysql.version_info = (1, 4, 6, "final", 0)  # what Django 3.2 asks of mysqlclient

import django  # noqa: E402
from django.conf import settings  # noqa: E402

PORT, DB = int(sys.argv[1]), sys.argv[2]

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[__name__ + ".sqlcommenter"],
    INSTALLED_APPS=[],
    DATABASES={"default": {"ENGINE": "django.db.backends.mysql", "NAME": DB, "USER": "app",
                           "PASSWORD": "apppass", "HOST": "127.0.0.1", "PORT": str(PORT)}},
)
django.setup()

from django.db import connection  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402


def sqlcommenter(get_response):
    def middleware(request):
        trace = uuid.uuid4().hex

        def wrapper(execute, sql, params, many, context):
            m = request.resolver_match
            tags = {"controller": m.url_name if m else "", "framework": "django:3.2",
                    "route": "/" + (m.route if m else ""),
                    "traceparent": "00-%s-%s-01" % (trace, uuid.uuid4().hex[:16])}
            c = ",".join("%s='%s'" % (k, urllib.parse.quote(v, safe=""))
                         for k, v in sorted(tags.items()))
            if params is not None:  # the DB-API's pyformat: a literal % is written %%
                c = c.replace("%", "%%")
            return execute("%s /*%s*/" % (sql, c), params, many, context)

        with connection.execute_wrapper(wrapper):
            return get_response(request)
    return middleware


def classes(request):
    with connection.cursor() as cur:
        cur.execute("SELECT name FROM classes ORDER BY name")
        return HttpResponse(", ".join(r[0] for r in cur.fetchall()))


def students(request, cid):
    with connection.cursor() as cur:
        cur.execute("SELECT name FROM students WHERE class_id = %s", [cid])
        return HttpResponse(", ".join(r[0] for r in cur.fetchall()))


urlpatterns = [path("dj/classes/", classes, name="classes"),
               path("dj/students/<int:cid>/", students, name="students")]


def main():
    from django.test import Client
    c = Client()
    for _ in range(2):
        r = c.get("/dj/classes/")
        assert r.status_code == 200 and b"class1" in r.content, r
    for cid in (1, 2, 3):
        r = c.get("/dj/students/%d/" % cid)
        assert r.status_code == 200, r
    connection.close()
    # a prepared statement whose PREPARE text carries the route; its executes inherit it
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "..", "tools"))
    import mywire
    import stmtwire
    cli = mywire.RawClient(PORT, db=DB)
    cli.login()
    sid, _, _ = stmtwire.prepare(
        cli, "SELECT name FROM students WHERE id = ? /*controller='prep',route='%2Fdj%2Fprepared'*/")
    for i in range(4):
        assert stmtwire.execute(cli, sid, [i + 1])[0] == "rows"
    cli.close()
    print("ok")


if __name__ == "__main__":
    main()
