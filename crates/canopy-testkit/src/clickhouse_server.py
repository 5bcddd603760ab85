"""ClickHouse for Canopy's tests: chdb (ClickHouse in process) behind ClickHouse's HTTP interface.

    python clickhouse_server.py --port PORT --data DIR --user USER --password PASSWORD

Binds 127.0.0.1:PORT (0 picks a free port), opens a chdb session on DIR, prints `listening
<port>` on stdout once it answers queries, and serves until SIGTERM, SIGINT or the end of its
stdin (the controlling process holds a pipe; when that process ends, the server goes too). A
port already taken is exit code 98, before chdb is loaded, so a caller can try another quickly.
The lifecycle around it (temporary directory, stop and start on the same port and data) is
`clickhouse.sh` beside this file. Python 3.11 standard library plus `chdb-core` only.

What it speaks, as a ClickHouse server does over HTTP:
- `GET /ping` answers `Ok.`; `POST /` runs the body as one statement, or the `query` URL
  parameter followed by the body; `GET /?query=...` runs reads only (code 164, READONLY, for
  writes, as ClickHouse does).
- URL parameters: `database` (or header `X-ClickHouse-Database`), `default_format` (or header
  `X-ClickHouse-Format`), `param_<name>` (query parameters, in ClickHouse's escaped text form,
  passed to chdb as they are), `user`/`password`, and HTTP-only parameters that are ignored
  (`query_id` is echoed). Every other parameter is a setting for that one request: it is SET on
  the session before the statement and set back to its start value after it, so nothing leaks
  into the next request. `readonly=1|2` is checked here instead (the session never turns
  read-only). `SET` and `USE` statements are accepted and do nothing, as over HTTP without a
  session.
- An INSERT whose data follows `FORMAT <name>` or `VALUES` (in the body after the `query`
  parameter, or inline in the body) is written to a temporary file and run as `INSERT ... FROM
  INFILE '<file>' [SETTINGS ...] FORMAT <name>`. Request bodies may be gzip or deflate encoded;
  answers are gzip encoded when `enable_http_compression=1` and the client accepts gzip.
- Credentials come from `X-ClickHouse-User`/`X-ClickHouse-Key`, the `user`/`password`
  parameters or HTTP Basic; anything but the configured pair is HTTP 516 with code 516
  (AUTHENTICATION_FAILED).
- Errors are `Code: <n>. DB::Exception: <message> (version <v>)` with header
  `X-ClickHouse-Exception-Code`; the status is 400 for syntax and parse errors, 404 for unknown
  tables and databases, 500 otherwise (ClickHouse's own mapping, abridged). Successful answers
  carry `X-ClickHouse-Summary` and `X-ClickHouse-Format`.
- More than one statement in a request is code 62 (SYNTAX_ERROR), as in ClickHouse; chdb itself
  would run them all.

What chdb (chdb-core 26.9, ClickHouse 26.9.2) does, checked against this server:
- `insert_deduplication_token` is honoured for MergeTree tables created with
  `SETTINGS non_replicated_deduplication_window = N`: a second insert with the same token writes
  nothing. Without a token, an identical block is deduplicated by its hash. Tables without the
  window setting never deduplicate. `X-ClickHouse-Summary`'s `written_rows` counts the rows of
  a deduplicated insert anyway (chdb reports them), so it cannot tell a duplicate.
- The session's start settings are chdb's, which follow ClickHouse 26.9 (`async_insert=1`,
  `date_time_input_format=best_effort`) except where chdb differs from a server; those are set
  back to a server's defaults at start (`BASELINE` below), notably `mutations_sync=0`, so
  mutations (`ALTER TABLE ... DELETE`) are asynchronous as on a server. chdb runs inserts
  synchronously whatever `async_insert` says; a real 26.x server queues them (and then does not
  deduplicate them unless `async_insert_deduplicate=1`), so clients that rely on tokens should
  send `async_insert=0`.
- The `default` database is chdb's `Overlay` engine; `CREATE DATABASE` makes `Atomic` ones.
  `ON CLUSTER` fails with code 701 (CLUSTER_DOESNT_EXIST): there is no cluster.
- The server's time zone is UTC (set here before chdb loads).
"""

import argparse
import base64
import errno
import gzip
import hmac
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

# URL parameters that are not settings: ClickHouse's HTTP handler reserves these names.
RESERVED_PARAMS = frozenset(
    (
        "query",
        "database",
        "default_format",
        "user",
        "password",
        "quota_key",
        "query_id",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "session_id",
        "session_timeout",
        "session_check",
        "stacktrace",
        "role",
        "client_protocol_version",
        "close_session",
    )
)

# Settings whose chdb default differs from a ClickHouse server's; set at session start.
BASELINE = {
    "mutations_sync": "0",
    "implicit_select": "0",
    "allow_introspection_functions": "0",
}

# Statements that read only: what `GET` and `readonly=1` allow.
READ_KEYWORDS = frozenset(("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "CHECK"))

# ClickHouse's HTTP status for some exception codes (HTTPHandler's mapping, abridged).
STATUS_BY_CODE = {
    **dict.fromkeys(
        (6, 25, 26, 27, 36, 38, 41, 42, 43, 44, 46, 47, 50, 53, 62, 72, 73, 115, 117, 130, 167, 168),
        400,
    ),
    60: 404,
    81: 404,
    497: 403,
    164: 403,
    48: 501,
}

CONTENT_TYPES = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "CSVWithNames": "text/csv; charset=UTF-8; header=present",
}

READONLY_MESSAGE = (
    "Cannot execute query in readonly mode. For queries over HTTP, method GET implies "
    "readonly. You should use method POST for modifying queries"
)


class ClickHouseError(Exception):
    """An error to answer in ClickHouse's shape: a code, a message with its `(NAME)` suffix."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def from_chdb(error):
    """A chdb exception as a ClickHouseError. chdb nests `Code: n. DB::Exception:` prefixes and
    `(version ...)` suffixes when an error crosses its layers; the innermost message is the one
    a server would send."""
    text = str(error).strip()
    found = re.match(r"Code: (\d+)\. ", text)
    if not found:
        return ClickHouseError(1001, f"{text}. (STD_EXCEPTION)")
    inner = text.rsplit("DB::Exception: ", 1)[-1].split(" (version ", 1)[0]
    return ClickHouseError(int(found.group(1)), inner)


def quote(value):
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- Just enough SQL lexing: statement boundaries, the leading keyword, FORMAT, VALUES, SETTINGS.

WORD = re.compile(r"[A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*|[0-9][A-Za-z0-9_.]*")
HEREDOC = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def lex(text, start=0, stop_after_input_format=True):
    """Yields `(kind, value, start, end)` for the significant tokens of `text` (a latin-1 view of
    the request bytes, so offsets are byte offsets). Kinds: `word`, `ident` (quoted), `string`,
    `punct`. Comments and whitespace are skipped. Lexing ends after the format name of an
    INSERT's `FORMAT <name>`, or after its `VALUES`, since data follows."""
    i, n = start, len(text)
    first = None
    depth = 0
    previous = None
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if text.startswith("--", i) or c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if text.startswith("/*", i):
            level, i = 1, i + 2
            while i < n and level:
                if text.startswith("/*", i):
                    level, i = level + 1, i + 2
                elif text.startswith("*/", i):
                    level, i = level - 1, i + 2
                else:
                    i += 1
            if level:
                raise ClickHouseError(62, "Syntax error: unterminated comment. (SYNTAX_ERROR)")
            continue
        if c in "'\"`":
            j = i + 1
            while True:
                if j >= n:
                    raise ClickHouseError(62, f"Syntax error: unterminated quoted text at position {i + 1}. (SYNTAX_ERROR)")
                if text[j] == "\\":
                    j += 2
                elif text[j] == c:
                    if j + 1 < n and text[j + 1] == c:
                        j += 2
                    else:
                        break
                else:
                    j += 1
            token = ("string" if c == "'" else "ident", text[i + 1 : j], i, j + 1)
            i = j + 1
        elif c == "$" and HEREDOC.match(text, i):
            tag = HEREDOC.match(text, i).group(0)
            end = text.find(tag, i + len(tag))
            if end < 0:
                raise ClickHouseError(62, "Syntax error: unterminated heredoc. (SYNTAX_ERROR)")
            token = ("string", text[i + len(tag) : end], i, end + len(tag))
            i = end + len(tag)
        elif WORD.match(text, i):
            m = WORD.match(text, i)
            token = ("word", m.group(0), i, m.end())
            i = m.end()
        else:
            token = ("punct", c, i, i + 1)
            i += 1
        kind, value = token[0], token[1]
        if kind == "punct" and value in "([{":
            depth += 1
        elif kind == "punct" and value in ")]}":
            depth -= 1
        yield token + (depth,)
        upper = value.upper() if kind == "word" else None
        if first is None:
            first = upper
        if (
            stop_after_input_format
            and first == "INSERT"
            and depth == 0
            and kind in ("word", "ident")
            and (previous == "FORMAT" or upper == "VALUES" and previous != "FROM")
        ):
            return
        previous = upper if depth == 0 else None


class Statement:
    """One request's statement: its text, its leading keyword, and, for an INSERT with data,
    the INSERT head and the data's format and byte offset."""

    def __init__(self, raw):
        self.raw = raw
        view = raw.decode("latin-1")
        tokens = list(lex(view))
        self.keyword = next((t[1].upper() for t in tokens if t[0] == "word"), "")
        self.output_format = None
        self.data_format = None
        self.data_start = None
        if self.keyword == "INSERT" and tokens:
            last = tokens[-1]
            before = tokens[-2] if len(tokens) > 1 else None
            if last[0] == "word" and last[1].upper() == "VALUES" and last[4] == 0:
                self.data_format, self.head_end = "Values", last[2]
                self.data_start = last[3]
            elif before and before[0] == "word" and before[1].upper() == "FORMAT" and before[4] == 0:
                self.data_format, self.head_end = last[1], before[2]
                self.data_start = skip_to_data(raw, last[3])
        end = len(view) if self.data_start is None else tokens[-1][3]
        for kind, value, start, _, depth in tokens:
            if kind == "punct" and value == ";" and depth == 0:
                rest = view[start + 1 : end]
                if any(True for _ in lex(rest, stop_after_input_format=False)):
                    raise ClickHouseError(
                        62,
                        f"Syntax error (Multi-statements are not allowed): failed at position "
                        f"{start + 1} (end of query): {view[start:end][:100]}. (SYNTAX_ERROR)",
                    )
        if self.keyword != "INSERT":
            for i, (kind, value, *_rest, depth) in enumerate(tokens[:-1]):
                if kind == "word" and value.upper() == "FORMAT" and depth == 0 and tokens[i + 1][0] in ("word", "ident"):
                    self.output_format = tokens[i + 1][1]
        self.tokens = tokens

    def text(self):
        return self.raw.decode("utf-8")

    def infile_sql(self, path):
        """`INSERT ... FROM INFILE 'path' [SETTINGS ...] FORMAT x`: SETTINGS must follow INFILE."""
        head = self.raw[: self.head_end].decode("utf-8")
        settings = ""
        for kind, value, start, _, depth in self.tokens:
            if start >= self.head_end:
                break
            if kind == "word" and value.upper() == "SETTINGS" and depth == 0:
                head, settings = self.raw[:start].decode("utf-8"), self.raw[start : self.head_end].decode("utf-8")
                break
        return f"{head.rstrip()} FROM INFILE {quote(path)} {settings.strip()} FORMAT {self.data_format}"


def skip_to_data(raw, i):
    """Where inline INSERT data starts: after the blanks that follow the format name and one line
    break, as ClickHouse reads it."""
    while i < len(raw) and raw[i] in b" \t":
        i += 1
    if raw.startswith(b"\r\n", i):
        return i + 2
    if raw.startswith(b"\n", i):
        return i + 1
    return i


# --- The chdb session.


class Engine:
    """The chdb session, one statement at a time, with per-request settings and database."""

    def __init__(self, path, uploads):
        import chdb
        from chdb import session

        self.version = chdb.engine_version
        self.lock = threading.Lock()
        self.uploads = uploads
        self.session = session.Session(path)
        self.session.query("SET " + ", ".join(f"{k} = {quote(v)}" for k, v in BASELINE.items()))
        rows = self.session.query("SELECT name, value FROM system.settings", "JSONCompactEachRow")
        self.start_values = dict(json.loads(line) for line in rows.bytes().splitlines())

    def close(self):
        # A statement still running holds the lock; it is given a while to finish.
        if self.lock.acquire(timeout=30):
            self.session.close()

    def run(self, statement, fmt, database, settings, params):
        with self.lock:
            changed = []
            try:
                if database and database != "default":
                    self.query(f"USE {quote_identifier(database)}", "TabSeparated")
                if settings:
                    # Set back afterwards even if the SET fails half-way.
                    changed = [k for k in settings if k in self.start_values]
                    self.query("SET " + ", ".join(f"{k} = {quote(v)}" for k, v in settings.items()), "TabSeparated")
                if statement.data_start is not None:
                    return self.insert_from_file(statement, fmt, params)
                return self.query(statement.text(), fmt, params)
            finally:
                self.reset(changed, database)

    def insert_from_file(self, statement, fmt, params):
        fd, path = tempfile.mkstemp(dir=self.uploads, suffix=".data")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(memoryview(statement.raw)[statement.data_start :])
            return self.query(statement.infile_sql(path), fmt, params)
        finally:
            os.unlink(path)

    def query(self, sql, fmt, params=None):
        try:
            return self.session.query(sql, fmt, params=params or None)
        except Exception as error:  # chdb raises ChdbError, RuntimeError or ValueError.
            raise from_chdb(error) from None

    def reset(self, changed, database):
        try:
            if changed:
                values = ", ".join(f"{k} = {quote(self.start_values[k])}" for k in changed)
                self.session.query("SET " + values)
            if database and database != "default":
                self.session.query("USE default")
        except Exception as error:
            log(f"cannot restore the session after a request: {error}")


def quote_identifier(name):
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


# --- HTTP.


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "canopy-chdb"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name.
        pass

    def do_GET(self):
        self.handle_request(read_only=True)

    def do_POST(self):
        self.handle_request(read_only=False)

    def handle_request(self, read_only):
        url = urlsplit(self.path)
        if url.path in ("/ping", "/replicas_status"):
            return self.answer(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
        if url.path != "/":
            self.read_body()
            return self.fail(ClickHouseError(0, f"There is no handle {url.path}. Use / or /ping for health checks."), 404)
        try:
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            body = self.read_body()
            self.authenticate(params)
            query = params.get("query", "")
            if read_only and not query and not body:
                return self.answer(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
            raw = (query.encode("utf-8") + b"\n" + body) if query and body else (query.encode("utf-8") or body)
            statement = Statement(raw)
            if not statement.keyword:
                raise ClickHouseError(62, "Empty query. (SYNTAX_ERROR)")
            settings = {k: v for k, v in params.items() if k not in RESERVED_PARAMS and not k.startswith("param_")}
            readonly = settings.pop("readonly", "0") not in ("0", "")
            if (read_only or readonly) and statement.keyword not in READ_KEYWORDS:
                raise ClickHouseError(164, f"{READONLY_MESSAGE}. (READONLY)")
            fmt = (
                statement.output_format
                or params.get("default_format")
                or self.headers.get("X-ClickHouse-Format")
                or "TabSeparated"
            )
            headers = {"X-ClickHouse-Format": fmt, "Content-Type": CONTENT_TYPES.get(fmt, content_type(fmt))}
            if "query_id" in params:
                headers["X-ClickHouse-Query-Id"] = params["query_id"]
            if statement.keyword in ("SET", "USE"):
                return self.answer(200, b"", headers)
            database = params.get("database") or self.headers.get("X-ClickHouse-Database")
            query_params = {k[len("param_") :]: v for k, v in params.items() if k.startswith("param_")}
            started = time.monotonic_ns()
            result = self.server.engine.run(statement, fmt, database, settings, query_params)
            data = result.bytes()
            headers["X-ClickHouse-Summary"] = summary(result, data, time.monotonic_ns() - started)
            compress = settings.get("enable_http_compression") in ("1", "true") and "gzip" in self.headers.get("Accept-Encoding", "")
            if compress:
                data = gzip.compress(data, compresslevel=1)
                headers["Content-Encoding"] = "gzip"
            self.answer(200, data, headers)
        except ClickHouseError as error:
            self.fail(error)
        except Exception as error:
            self.fail(ClickHouseError(1001, f"{type(error).__name__}: {error}. (STD_EXCEPTION)"))

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(chunks)
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "").lower()
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
        if encoding not in ("", "identity"):
            raise ClickHouseError(90, f"Unknown compression method: {encoding}. (UNKNOWN_COMPRESSION_METHOD)")
        return body

    def authenticate(self, params):
        user = self.headers.get("X-ClickHouse-User") or params.get("user")
        password = self.headers.get("X-ClickHouse-Key") or params.get("password")
        basic = self.headers.get("Authorization", "")
        if basic.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(basic[6:].strip()).decode("utf-8").partition(":")
            except ValueError:
                user = password = None
        user = user or "default"
        expected_user, expected_password = self.server.credentials
        good = hmac.compare_digest(user.encode(), expected_user.encode()) & hmac.compare_digest(
            (password or "").encode(), expected_password.encode()
        )
        if not good:
            raise ClickHouseError(
                516,
                f"{user}: Authentication failed: password is incorrect, or there is no user with "
                "such name. (AUTHENTICATION_FAILED)",
            )

    def fail(self, error, status=None):
        if status is None:
            status = 516 if error.code == 516 else STATUS_BY_CODE.get(error.code, 500)
        body = f"Code: {error.code}. DB::Exception: {error.message} (version {self.server.version})\n"
        self.answer(
            status,
            body.encode("utf-8"),
            {"Content-Type": "text/plain; charset=UTF-8", "X-ClickHouse-Exception-Code": str(error.code)},
        )

    def answer(self, status, data, headers):
        self.send_response(status, "Unknown" if status == 516 else None)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def content_type(fmt):
    if fmt.startswith("JSON"):
        return "application/json; charset=UTF-8"
    if fmt.startswith(("TabSeparated", "TSV")):
        return "text/tab-separated-values; charset=UTF-8"
    if fmt.startswith("CSV"):
        return "text/csv; charset=UTF-8"
    if fmt.startswith(("RowBinary", "Native", "Parquet", "Arrow")):
        return "application/octet-stream"
    return "text/plain; charset=UTF-8"


def summary(result, data, elapsed_ns):
    return json.dumps(
        {
            "read_rows": str(result.rows_read()),
            "read_bytes": str(result.bytes_read()),
            "written_rows": str(result.rows_written()),
            "written_bytes": str(result.bytes_written()),
            "total_rows_to_read": str(result.rows_read()),
            "result_bytes": str(len(data)),
            "elapsed_ns": str(elapsed_ns),
        },
        separators=(",", ":"),
    )


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def log(message):
    print(f"clickhouse_server: {message}", file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--data", required=True, help="the chdb data directory")
    parser.add_argument("--user", default="default")
    parser.add_argument("--password", default="")
    args = parser.parse_args()

    # Bind first: a taken port is a quick, recognisable failure, before chdb takes its time.
    try:
        server = Server(("127.0.0.1", args.port), Handler)
    except OSError as error:
        log(f"cannot bind 127.0.0.1:{args.port}: {error}")
        sys.exit(98 if error.errno == errno.EADDRINUSE else 1)

    os.environ["TZ"] = "UTC"
    time.tzset()
    uploads = os.path.join(args.data, "canopy-uploads")
    os.makedirs(uploads, exist_ok=True)
    try:
        server.engine = Engine(args.data, uploads)
    except ImportError as error:
        log(f"{sys.executable} cannot import chdb ({error}): install it with `bash scripts/install-chdb.sh`")
        sys.exit(3)
    server.version = server.engine.version
    server.credentials = (args.user, args.password)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def watch_stdin():
        # Ends when the controlling process closes its end of the pipe, or ends.
        while sys.stdin.buffer.read(65536):
            pass
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening {server.server_address[1]}", flush=True)

    stop.wait()
    server.shutdown()
    server.server_close()
    server.engine.close()
    sys.stdout.flush()
    sys.stderr.flush()
    # Handler threads may still hold keep-alive connections; they end with the process.
    os._exit(0)


if __name__ == "__main__":
    main()
