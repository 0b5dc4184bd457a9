"""test_sqlalchemy.py - an ordinary SQLAlchemy 1.4 ORM app (students and courses, many-to-many
through enrollments) run through the proxy and directly: same results, and its statements
(DDL, inserts, joins, updates, deletes, transactions) appear in the slow log."""

import os
import unittest

from sqlalchemy import (Column, Date, ForeignKey, Integer, String, Table, create_engine,
                        func, select)
from sqlalchemy.orm import declarative_base, relationship, selectinload, sessionmaker
import datetime

import harness

Base = declarative_base()

enrollments = Table(
    "enrollments", Base.metadata,
    Column("student_id", ForeignKey("students.id", ondelete="CASCADE"), primary_key=True),
    Column("course_id", ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True))


class Student(Base):
    __tablename__ = "students"
    id = Column(Integer, primary_key=True)
    name = Column(String(60), nullable=False)
    born = Column(Date)
    courses = relationship("Course", secondary=enrollments, back_populates="students",
                           order_by="Course.id")


class Course(Base):
    __tablename__ = "courses"
    id = Column(Integer, primary_key=True)
    title = Column(String(60), nullable=False, unique=True)
    students = relationship("Student", secondary=enrollments, back_populates="courses",
                            order_by="Student.id")


def app(port, db):
    """The app: returns a list of everything it observed."""
    engine = create_engine("mysql+pymysql://app:apppass@127.0.0.1:%d/%s?charset=utf8mb4"
                           % (port, db), future=True)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    Session = sessionmaker(engine, future=True)
    seen = []
    with Session() as s, s.begin():
        courses = [Course(title=t) for t in ("math", "physics", "history", "art")]
        s.add_all(courses)
        for i in range(40):
            st = Student(name="student%02d" % i, born=datetime.date(2000 + i % 5, 1 + i % 12, 1))
            st.courses = [c for j, c in enumerate(courses) if (i + j) % 3 == 0]
            s.add(st)
    with Session() as s:
        rows = s.execute(select(Student).options(selectinload(Student.courses))
                         .order_by(Student.id)).scalars().all()
        seen.append([(r.name, r.born.isoformat(), [c.title for c in r.courses]) for r in rows])
        counts = s.execute(select(Course.title, func.count(enrollments.c.student_id))
                           .join(enrollments).group_by(Course.title)
                           .order_by(Course.title)).all()
        seen.append([tuple(r) for r in counts])
    with Session() as s, s.begin():
        st = s.execute(select(Student).where(Student.name == "student07")).scalar_one()
        st.name = "renamed07"
        st.courses.append(s.execute(select(Course).where(Course.title == "art")).scalar_one())
        doomed = s.execute(select(Student).where(Student.name.like("student1%"))).scalars()
        for d in doomed:
            s.delete(d)
    with Session() as s:
        seen.append(s.execute(select(func.count()).select_from(Student)).scalar_one())
        r = s.execute(select(Student).where(Student.name == "renamed07")).scalar_one()
        seen.append([c.title for c in r.courses])
        # a rolled-back transaction leaves nothing behind
        s.add(Student(name="ghost"))
        s.flush()
        s.rollback()
        seen.append(s.execute(select(func.count()).select_from(Student)
                              .where(Student.name == "ghost")).scalar_one())
        seen.append(s.execute(select(func.count()).select_from(enrollments)).scalar_one())
    engine.dispose()
    return seen


class SQLAlchemyApp(unittest.TestCase):
    def test_orm_app_through_proxy(self):
        srv = harness.mariadb()
        direct_db = "st_sqla_direct_%d" % os.getpid()
        proxy_db = "st_sqla_proxy_%d" % os.getpid()
        srv.fresh_db(direct_db)
        srv.fresh_db(proxy_db)
        expected = app(srv.port, direct_db)
        self.assertEqual(expected[2], 30)  # 40 students minus student10..student19
        with harness.Slowtap() as px:
            got = app(px.port, proxy_db)
            self.assertEqual(got, expected)
            entries = [e for e in px.entries() if e["schema"] == proxy_db]
            stmts = [e["statement"] for e in entries]
            joined = "\n".join(stmts)

            def has(fragment):
                return any(fragment.lower() in s.lower() for s in stmts)

            for frag in ("CREATE TABLE students", "CREATE TABLE enrollments",
                         "INSERT INTO students", "INSERT INTO enrollments",
                         "JOIN enrollments", "UPDATE students SET name",
                         "DELETE FROM students", "ROLLBACK", "COMMIT"):
                self.assertTrue(has(frag), "%r not logged; statements:\n%s" % (frag, joined))
            for e in entries:
                self.assertEqual(e["user"], "app")
                self.assertIsNotNone(e["query_time"])
            upd = [e for e in entries if e["statement"].startswith("UPDATE students SET name")]
            self.assertEqual(upd[0]["rows_affected"], 1, upd[0]["raw"])
            dels = [e for e in entries if e["statement"].startswith("DELETE FROM students")]
            self.assertEqual(sum(e["rows_affected"] for e in dels), 10)
        for d in (direct_db, proxy_db):
            srv.sql("DROP DATABASE `%s`" % d)


if __name__ == "__main__":
    unittest.main()
