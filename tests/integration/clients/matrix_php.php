<?php
// matrix_php.php - the PHP client of the client matrix (tests/integration/test_matrix_php.py):
// mysqli or PDO_mysql with native (server-side) prepared statements binding ints, floats,
// strings with quotes/backslashes/newlines, NULL, dates and a blob (mysqlnd has no
// server-side cursors: the C client covers COM_STMT_FETCH); prints a deterministic
// transcript so that a direct run and a run through slowtap compare.
// Usage: php matrix_php.php mysqli|pdo HOST PORT USER PASSWORD DB

if ($argc != 7) {
    fwrite(STDERR, "usage: matrix_php.php mysqli|pdo HOST PORT USER PASSWORD DB\n");
    exit(2);
}
[, $mode, $host, $port, $user, $pass, $db] = $argv;

const MX_STR = "O'Reilly \\ back\\slash \"dq\"\nnew line";
const MX_BLOB = "\x00\x01\xff bin \x27\x5c";

function mx_out($label, $v)
{
    echo $label, ": ", var_export($v, true), "\n";
}

function mx_mysqli($host, $port, $user, $pass, $db)
{
    mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
    $m = new mysqli($host, $user, $pass, $db, (int)$port);
    $m->query("DROP TABLE IF EXISTS m_php");
    $m->query("CREATE TABLE m_php (id INT PRIMARY KEY, i BIGINT, f DOUBLE, s TEXT, n VARCHAR(10),"
        . " d DATE, dt DATETIME, b BLOB)");
    $st = $m->prepare("INSERT INTO m_php (id, i, f, s, n, d, dt, b) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    $id = 1;
    $i = -42;
    $f = 3.25;
    $s = MX_STR;
    $n = null;
    $d = "2024-02-29";
    $dt = "2024-02-29 13:14:15";
    $b = null;
    $st->bind_param("iidssssb", $id, $i, $f, $s, $n, $d, $dt, $b);
    $st->send_long_data(7, MX_BLOB);
    $st->execute();
    mx_out("insert 1 affected", $st->affected_rows);
    // the same statement again, the blob bound inline as a string this time
    $st->bind_param("iidsssss", $id, $i, $f, $s, $n, $d, $dt, $b);
    $id = 2;
    $i = 9007199254740993;
    $f = -0.5;
    $s = "tab\there";
    $n = "notnull";
    $d = "1999-12-31";
    $dt = "2000-01-01 00:00:00";
    $b = MX_BLOB;
    $st->execute();
    mx_out("insert 2 affected", $st->affected_rows);
    $st->close();

    $sel = $m->prepare("SELECT id, i, f, s, n, d, dt, HEX(b) AS hb FROM m_php WHERE id = ? OR s = ?"
        . " ORDER BY id");
    $want = 1;
    $ws = "tab\there";
    $sel->bind_param("is", $want, $ws);
    $sel->execute();
    mx_out("select", $sel->get_result()->fetch_all(MYSQLI_ASSOC));
    $sel->close();

    mx_out("text", $m->query("SELECT id, s, HEX(b) AS hb FROM m_php ORDER BY id")->fetch_all(MYSQLI_NUM));
    $m->close();
}

function mx_pdo($host, $port, $user, $pass, $db)
{
    $p = new PDO("mysql:host=$host;port=$port;dbname=$db", $user, $pass, [
        PDO::ATTR_EMULATE_PREPARES => false,
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_STRINGIFY_FETCHES => false,
    ]);
    $p->exec("DROP TABLE IF EXISTS m_pdo");
    $p->exec("CREATE TABLE m_pdo (id INT PRIMARY KEY, i BIGINT, f DOUBLE, s TEXT, n VARCHAR(10),"
        . " d DATE, dt DATETIME, b BLOB)");
    $st = $p->prepare("INSERT INTO m_pdo (id, i, f, s, n, d, dt, b) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    $st->bindValue(1, 1, PDO::PARAM_INT);
    $st->bindValue(2, -42, PDO::PARAM_INT);
    $st->bindValue(3, 3.25);
    $st->bindValue(4, MX_STR, PDO::PARAM_STR);
    $st->bindValue(5, null, PDO::PARAM_NULL);
    $st->bindValue(6, "2024-02-29", PDO::PARAM_STR);
    $st->bindValue(7, "2024-02-29 13:14:15", PDO::PARAM_STR);
    $st->bindValue(8, MX_BLOB, PDO::PARAM_LOB);
    $st->execute();
    mx_out("insert 1 affected", $st->rowCount());
    // execute(array): every value bound as a string
    $st->execute([2, 9007199254740993, -0.5, "tab\there", "notnull", "1999-12-31",
        "2000-01-01 00:00:00", MX_BLOB]);
    mx_out("insert 2 affected", $st->rowCount());

    $sel = $p->prepare("SELECT id, i, f, s, n, d, dt, HEX(b) AS hb FROM m_pdo WHERE id = ? OR s = ?"
        . " ORDER BY id");
    $sel->bindValue(1, 1, PDO::PARAM_INT);
    $sel->bindValue(2, "tab\there");
    $sel->execute();
    mx_out("select", $sel->fetchAll(PDO::FETCH_ASSOC));
    // an error from a prepared statement
    try {
        $p->prepare("SELECT * FROM m_no_such_table WHERE id = ?")->execute([1]);
        mx_out("error", "none");
    } catch (PDOException $e) {
        mx_out("error", $e->errorInfo[1]);
    }
    mx_out("text", $p->query("SELECT id, s, HEX(b) AS hb FROM m_pdo ORDER BY id")->fetchAll(PDO::FETCH_NUM));
}

if ($mode === "mysqli") {
    mx_mysqli($host, $port, $user, $pass, $db);
} elseif ($mode === "pdo") {
    mx_pdo($host, $port, $user, $pass, $db);
} else {
    fwrite(STDERR, "unknown mode $mode\n");
    exit(2);
}
echo "END\n";
