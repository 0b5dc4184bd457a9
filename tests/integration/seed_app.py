"""seed_app.py - the seed-style application, shared by the tests that run an app rather than
statements through slowtap: a Flask + Flask-SQLAlchemy app with the schema of the article
slowtap was built from (students, classes and the many-to-many table between them) and its two
slow views:

- /my_class/<int:student_id> looks the student up by `student_id`, a column without an index
  (EXPLAIN: type ALL, a full scan of students), then lazy-loads the student's classes;
- /roster/<int:class_id> loads a class, lazy-loads its students, then each student's classes:
  2 + N statements for a class of N students (the N+1).

    seed_app.create_schema(server, "mydb", students=1000, classes=5, per_class=20)
    app, db = seed_app.make_app(proxy_port, "mydb")
    counter = seed_app.RouteCounter(db.engine)        # statements per route, as the app ran them
    client = app.test_client(); client.get("/roster/1")

The app's own statement count per route (RouteCounter) is what a test compares slowtap's
figures with. Tags (contrib/sqlcommenter_sqlalchemy.py) are the test's choice: install them
on db.engine inside app.app_context()."""

import threading

STUDENT_ID_BASE = 100000  # student_id = STUDENT_ID_BASE + id: not the primary key's values


def create_schema(server, dbname, students=10000, classes=50, per_class=600):
    """Creates (afresh) the seed's tables in `dbname` on `server` (a harness.Server) and fills
    them: `students` students, `classes` classes of `per_class` students each (students taken
    in turn, so a student is in about classes * per_class / students classes). No index on
    students.student_id, as in the seed."""
    server.fresh_db(dbname)
    server.sql("""
CREATE TABLE students (id INT PRIMARY KEY, student_id INT NOT NULL, name VARCHAR(60) NOT NULL);
CREATE TABLE classes (id INT PRIMARY KEY, name VARCHAR(60) NOT NULL);
CREATE TABLE student_classes (student_id INT NOT NULL, class_id INT NOT NULL,
    PRIMARY KEY (class_id, student_id), KEY (student_id));
INSERT INTO students SELECT seq, %d + seq, CONCAT('student', seq) FROM seq_1_to_%d;
INSERT INTO classes SELECT seq, CONCAT('class', seq) FROM seq_1_to_%d;
INSERT INTO student_classes SELECT ((c.seq - 1) * %d + s.seq - 1) %% %d + 1, c.seq
    FROM seq_1_to_%d c, seq_1_to_%d s;
ANALYZE TABLE students, classes, student_classes;
""" % (STUDENT_ID_BASE, students, classes, per_class, students, classes, per_class), db=dbname)


def make_app(port, dbname, user="app", password="apppass"):
    """The Flask app on mysql+pymysql://user@127.0.0.1:port/dbname; returns (app, db). Each
    call builds its own models (its own SQLAlchemy registry), so a test may build several."""
    import flask
    from flask_sqlalchemy import SQLAlchemy

    app = flask.Flask("seed")
    app.config["SQLALCHEMY_DATABASE_URI"] = (
        "mysql+pymysql://%s:%s@127.0.0.1:%d/%s" % (user, password, port, dbname))
    db = SQLAlchemy(app)

    student_classes = db.Table(
        "student_classes",
        db.Column("student_id", db.Integer, db.ForeignKey("students.id"), primary_key=True),
        db.Column("class_id", db.Integer, db.ForeignKey("classes.id"), primary_key=True))

    class Student(db.Model):
        __tablename__ = "students"
        id = db.Column(db.Integer, primary_key=True)
        student_id = db.Column(db.Integer, nullable=False)  # no index, as in the seed
        name = db.Column(db.String(60), nullable=False)

    class Klass(db.Model):
        __tablename__ = "classes"
        id = db.Column(db.Integer, primary_key=True)
        name = db.Column(db.String(60), nullable=False)
        # lazy="select" (SQLAlchemy's default): one statement per access, hence the N+1
        students = db.relationship(Student, secondary=student_classes, lazy="select",
                                   order_by=Student.id, backref=db.backref(
                                       "classes", lazy="select", order_by="Klass.id"))

    @app.route("/my_class/<int:student_id>")
    def my_class(student_id):
        s = db.session.execute(db.select(Student).filter_by(student_id=student_id)).scalar()
        if s is None:
            flask.abort(404)
        return "%s: %s" % (s.name, ", ".join(c.name for c in s.classes))

    @app.route("/roster/<int:class_id>")
    def roster(class_id):
        k = db.session.get(Klass, class_id)
        if k is None:
            flask.abort(404)
        return "\n".join("%s: %s" % (s.name, ", ".join(c.name for c in s.classes))
                         for s in k.students)

    app.seed_models = (Student, Klass)
    return app, db


class RouteCounter:
    """Counts the statements the app runs per Flask route (URL rule; None outside a request),
    from SQLAlchemy's before_cursor_execute event: the app's side of a comparison with
    slowtap's per-route figures. Thread-safe."""

    def __init__(self, engine):
        import flask
        from sqlalchemy import event

        self.counts = {}
        self._lock = threading.Lock()

        @event.listens_for(engine, "before_cursor_execute")
        def _count(conn, cursor, statement, parameters, context, executemany):
            rule = None
            if flask.has_request_context() and flask.request.url_rule is not None:
                rule = flask.request.url_rule.rule
            with self._lock:
                self.counts[rule] = self.counts.get(rule, 0) + 1
