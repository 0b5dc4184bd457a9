"""contrib_django.py PORT DB - a small Django app (Debian's python3-django and python3-mysqldb,
settings configured here in code) whose only middleware is contrib/sqlcommenter_django.py,
driven with Django's test client through slowtap on PORT: /classes/ twice (a statement with a
'%' literal and no parameters), /students/<int:cid>/ three times (a '%' literal and a
parameter, the case a pasted '%2F' breaks), /boom/ once (a view that fails after its
statement). Prints one JSON line of what the views answered. Run by test_contrib_tags.py in
its own process (Django's settings are global)."""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "contrib"))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

PORT, DB = int(sys.argv[1]), sys.argv[2]

settings.configure(
    DEBUG=False,
    SECRET_KEY="contrib-django-test",  # the 500 page's logging reads it
    LOGGING_CONFIG=None,  # no traceback of /boom/ on stderr
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["sqlcommenter_django.SqlCommenterMiddleware"],
    INSTALLED_APPS=[],
    DATABASES={"default": {"ENGINE": "django.db.backends.mysql", "NAME": DB, "USER": "app",
                           "PASSWORD": "apppass", "HOST": "127.0.0.1", "PORT": str(PORT)}},
)
django.setup()

from django.db import connection  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402


def classes(request):
    with connection.cursor() as cur:
        cur.execute("SELECT name FROM classes WHERE name LIKE 'class%' ORDER BY name")
        return HttpResponse(",".join(r[0] for r in cur.fetchall()))


def students(request, cid):
    with connection.cursor() as cur:
        cur.execute("SELECT name FROM students WHERE name LIKE 'student%%' AND class_id = %s "
                    "ORDER BY id", [cid])
        return HttpResponse(",".join(r[0] for r in cur.fetchall()))


def boom(request):
    with connection.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM students")
    raise RuntimeError("the view fails after its statement")


urlpatterns = [path("classes/", classes, name="classes"),
               path("students/<int:cid>/", students, name="students"),
               path("boom/", boom)]


def main():
    from django.test import Client
    c = Client(raise_request_exception=False)
    out = {"classes": [], "students": [], "boom": None}
    for _ in range(2):
        r = c.get("/classes/")
        out["classes"].append([r.status_code, r.content.decode()])
    for cid in (1, 2, 3):
        r = c.get("/students/%d/" % cid)
        out["students"].append([r.status_code, r.content.decode()])
    out["boom"] = c.get("/boom/").status_code
    connection.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
