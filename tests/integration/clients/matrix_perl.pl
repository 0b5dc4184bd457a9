#!/usr/bin/perl
# matrix_perl.pl - the Perl client of the client matrix (tests/integration/test_matrix_perl.py):
# DBD::MariaDB with server-side prepared statements (mariadb_server_prepare=1) binding ints,
# floats, strings with quotes/backslashes/newlines, NULL, dates and a blob; prints a
# deterministic transcript so that a direct run and a run through slowtap compare.
# Usage: perl matrix_perl.pl HOST PORT USER PASSWORD DB
use strict;
use warnings;
use DBI qw(:sql_types);
use Data::Dumper;

$Data::Dumper::Sortkeys = 1;
$Data::Dumper::Useqq    = 1;
$Data::Dumper::Indent   = 1;

die "usage: matrix_perl.pl HOST PORT USER PASSWORD DB\n" unless @ARGV == 5;
my ($host, $port, $user, $pass, $db) = @ARGV;
my $dbh = DBI->connect("DBI:MariaDB:database=$db;host=$host;port=$port;mariadb_server_prepare=1",
    $user, $pass, {RaiseError => 1, PrintError => 0, AutoCommit => 1});

my $str  = "O'Reilly \\ back\\slash \"dq\"\nnew line";
my $blob = "\x00\x01\xff bin '\\";

$dbh->do("DROP TABLE IF EXISTS m_perl");
$dbh->do("CREATE TABLE m_perl (id INT PRIMARY KEY, i BIGINT, f DOUBLE, s TEXT, n VARCHAR(10),"
      . " d DATE, dt DATETIME, b BLOB)");
my $ins = $dbh->prepare("INSERT INTO m_perl (id, i, f, s, n, d, dt, b) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
$ins->bind_param(1, 1, SQL_INTEGER);
$ins->bind_param(2, -42, SQL_BIGINT);
$ins->bind_param(3, 3.25, SQL_DOUBLE);
$ins->bind_param(4, $str, SQL_VARCHAR);
$ins->bind_param(5, undef, SQL_VARCHAR);
$ins->bind_param(6, "2024-02-29", SQL_VARCHAR);
$ins->bind_param(7, "2024-02-29 13:14:15", SQL_VARCHAR);
$ins->bind_param(8, $blob, SQL_BLOB);
print "insert 1 affected: ", $ins->execute, "\n";
# execute(list): values bound with the types of the previous bind
print "insert 2 affected: ",
  $ins->execute(2, 9007199254740993, -0.5, "tab\there", "notnull", "1999-12-31",
    "2000-01-01 00:00:00", $blob), "\n";

my $sel = $dbh->prepare("SELECT id, i, f, s, n, d, dt, HEX(b) AS hb FROM m_perl WHERE id = ? OR s = ?"
      . " ORDER BY id");
$sel->execute(1, "tab\there");
print "select: ", Dumper($sel->fetchall_arrayref({}));
# re-execute of the same statement handle with other values
$sel->execute(2, "none");
print "select 2: ", Dumper($sel->fetchall_arrayref);

my $err = eval { $dbh->prepare("SELECT * FROM m_no_such_table WHERE id = ?")->execute(1); 1 };
print "error: ", ($err ? "none" : $dbh->err), "\n";
print "text: ", Dumper($dbh->selectall_arrayref("SELECT id, s, HEX(b) FROM m_perl ORDER BY id"));
$dbh->disconnect;
print "END\n";
