"""Classify a step's text as read, write or danger when its fence does not say (pure).

Conservative by design: a shell step is ``read`` only when every command in it is known to be
read-only, and anything not understood is ``write``. ``Finding.certain`` tells a known write
(``DELETE``, ``kubectl apply``) from "not known to be read-only" (``./fix.sh``): a fence may
state ``risk=read`` over the second, never over the first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from opsbook.runbooks.models import Risk

_ORDER = {Risk.READ: 0, Risk.WRITE: 1, Risk.DANGER: 2}


@dataclass(frozen=True)
class Finding:
    """``reason`` names what decided the risk (``"DROP TABLE"``, ``"kubectl get"``)."""

    risk: Risk
    reason: str
    certain: bool = True


def rank(risk: Risk) -> int:
    return _ORDER[risk]


def _worst(findings: list[Finding], empty: str) -> Finding:
    if not findings:
        return Finding(Risk.READ, empty)
    # The highest risk wins; among equals a certain finding wins, then the first.
    return max(findings, key=lambda f: (rank(f.risk), f.certain))


def _read(reason: str) -> Finding:
    return Finding(Risk.READ, reason)


def _write(reason: str, *, certain: bool = True) -> Finding:
    return Finding(Risk.WRITE, reason, certain)


def _danger(reason: str) -> Finding:
    return Finding(Risk.DANGER, reason)


# --- SQL -------------------------------------------------------------------------------------

_SQL_NOISE = re.compile(
    r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|(\$[A-Za-z_]*\$).*?\1",
    re.DOTALL,
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DANGER_FUNCTIONS = ("pg_terminate_backend",)
_WRITE_FUNCTIONS = (
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_stat_reset",
    "pg_stat_statements_reset",
    "setval",
    "nextval",
    "set_config",
    "pg_advisory_lock",
    "lo_unlink",
    "dblink_exec",
    "pg_rotate_logfile",
    "pg_switch_wal",
)
_NOT_VERB = {"FOR", "KEY", "DO"}
_SQL_READ = {"SELECT", "SHOW", "TABLE", "VALUES"}
_SQL_NEUTRAL = {"BEGIN", "COMMIT", "END", "ROLLBACK", "START", "SET", "RESET", "ABORT"}
_SQL_WRITE = {
    "INSERT",
    "CREATE",
    "GRANT",
    "REVOKE",
    "VACUUM",
    "ANALYZE",
    "REINDEX",
    "CLUSTER",
    "REFRESH",
    "LOCK",
    "COMMENT",
    "NOTIFY",
    "MERGE",
    "UPSERT",
    "REPLACE",
    "DISCARD",
    "SECURITY",
    "IMPORT",
    "LOAD",
}


def _strip_sql(text: str) -> str:
    # Strings, quoted names and comments can hold any word ("DROP" in a log line): blank them.
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("\\")]
    return _SQL_NOISE.sub(lambda m: " '' " if m.group(0)[:1] in "'$" else " ", "\n".join(lines))


def classify_sql(text: str) -> Finding:
    """Risk of SQL text: read for SELECT / WITH ... SELECT / SHOW / EXPLAIN (without ANALYZE of
    a write) only; danger for DROP, TRUNCATE, DELETE or UPDATE without WHERE, ALTER ... DROP,
    pg_terminate_backend; everything else write."""
    findings = [_statement(s) for s in _strip_sql(text).split(";") if s.strip()]
    return _worst([f for f in findings if f is not None], "no SQL statement")


def _words(statement: str) -> list[str]:
    return [w.upper() for w in _WORD.findall(statement)]


def _statement(statement: str) -> Finding | None:
    words = _words(statement)
    if not words:
        return None
    first = words[0]
    lowered = statement.lower()
    for name in _DANGER_FUNCTIONS:
        if re.search(rf"\b{name}\s*\(", lowered):
            return _danger(name)
    for name in _WRITE_FUNCTIONS:
        if re.search(rf"\b{name}\s*\(", lowered):
            return _write(name)
    if first in _SQL_NEUTRAL:
        return None
    if first == "EXPLAIN":
        rest = statement[re.search(r"(?i)explain", statement).end() :]  # type: ignore[union-attr]
        options = re.match(r"\s*(\([^)]*\)|(?:\s*(?:ANALYZE|ANALYSE|VERBOSE)\b)*)", rest, re.I)
        analyzed = options is not None and re.search(r"(?i)analy[sz]e", options.group(0))
        inner = _statement(rest[options.end() :] if options else rest)
        if analyzed and inner is not None and inner.risk is not Risk.READ:
            return Finding(inner.risk, f"EXPLAIN ANALYZE runs {inner.reason}", inner.certain)
        return _read("EXPLAIN")
    if first == "WITH" or first in _SQL_READ:
        for verb in ("DELETE", "UPDATE"):
            # "FOR UPDATE", "FOR NO KEY UPDATE" and "ON CONFLICT DO UPDATE" are no statement.
            at = [i for i, w in enumerate(words) if w == verb and words[i - 1] not in _NOT_VERB]
            if at:
                return _where(verb, " ".join(words[at[0] :]))
        if "INSERT" in words:
            return _write("INSERT")
        into = "INTO" in words and words.index("INTO") < _index(words, "FROM")
        if first == "SELECT" and into:
            return _write("SELECT INTO")
        if "FOR" in words and "UPDATE" in words[words.index("FOR") :]:
            return _write("SELECT FOR UPDATE")
        return _read(first if first != "WITH" else "SELECT")
    if first in ("DROP", "TRUNCATE"):
        return _danger(" ".join(words[:2]) if first == "DROP" and len(words) > 1 else first)
    if first in ("DELETE", "UPDATE"):
        return _where(first, statement)
    if first == "ALTER":
        if "DROP" in words:
            return _danger(
                f"ALTER {words[1] if len(words) > 1 else ''} ... DROP".replace("  ", " ")
            )
        return _write(" ".join(words[:2]))
    if first == "COPY":
        if re.search(r"(?i)\bto\s+stdout\b", statement):
            return _read("COPY TO STDOUT")
        return _write("COPY")
    if first in _SQL_WRITE:
        return _write(" ".join(words[:2]) if first == "CREATE" else first)
    return _write(f"{first} is not known to be read-only", certain=False)


def _index(words: list[str], word: str) -> int:
    return words.index(word) if word in words else len(words)


def _where(verb: str, statement: str) -> Finding:
    if "WHERE" in _words(statement):
        return _write(f"{verb} ... WHERE")
    return _danger(f"{verb} without WHERE")


# --- HTTP ------------------------------------------------------------------------------------


def classify_http_method(method: str) -> Finding:
    method = method.upper()
    if method in ("GET", "HEAD", "OPTIONS"):
        return _read(method)
    if method == "DELETE":
        # Deleting a resource through an API is usually hard to undo: another person approves.
        return _danger("HTTP DELETE")
    return _write(f"HTTP {method}")


def classify_http(text: str) -> Finding:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    method = line.split()[0] if line else ""
    return classify_http_method(method) if method else _write("no request line", certain=False)


# --- shell -----------------------------------------------------------------------------------

_SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", "{", "}", "\n"}
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def _shell_tokens(text: str) -> tuple[list[str], list[str]]:
    """Words and operators of ``text`` (quotes removed, comments dropped), and the bodies of
    ``$(...)`` and backquote substitutions, which are commands of their own."""
    tokens: list[str] = []
    inner: list[str] = []
    word: list[str] | None = None
    i, n = 0, len(text)
    quote = ""

    def end_word() -> None:
        nonlocal word
        if word is not None:
            tokens.append("".join(word))
            word = None

    while i < n:
        c = text[i]
        if quote == "'":
            if c == "'":
                quote = ""
            else:
                word.append(c)  # type: ignore[union-attr]
            i += 1
            continue
        if c == "\\" and i + 1 < n:
            if text[i + 1] == "\n":
                i += 2
                continue
            word = word if word is not None else []
            # Inside double quotes a backslash escapes only $ ` " \ (psql -c "\du" keeps it).
            if quote == '"' and text[i + 1] not in '$`"\\':
                word.append(c)
            word.append(text[i + 1])
            i += 2
            continue
        if c == "$" and text[i + 1 : i + 2] == "(":
            depth, j = 0, i + 1
            while j < n:
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            inner.append(text[i + 2 : j])
            word = word if word is not None else []
            word.append("$SUB")
            i = j + 1
            continue
        if c == "`":
            j = text.find("`", i + 1)
            j = n if j < 0 else j
            inner.append(text[i + 1 : j])
            word = word if word is not None else []
            word.append("$SUB")
            i = j + 1
            continue
        if quote == '"':
            if c == '"':
                quote = ""
            else:
                word.append(c)  # type: ignore[union-attr]
            i += 1
            continue
        if c in "'\"":
            quote = c
            word = word if word is not None else []
            i += 1
            continue
        if c == "#" and word is None:
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c in " \t":
            end_word()
            i += 1
            continue
        if c == "\n":
            end_word()
            tokens.append("\n")
            i += 1
            continue
        if c in ";&|()<>":
            # "2>" and "2>&1" are redirections of the word's file descriptor, not arguments.
            if c in "<>" and word is not None and "".join(word).isdigit():
                word = None
            end_word()
            op = c
            while i + len(op) < n and text[i + len(op)] in "&|>" and len(op) < 2:
                op += text[i + len(op)]
            tokens.append(op)
            i += len(op)
            continue
        word = word if word is not None else []
        word.append(c)
        i += 1
    end_word()
    return tokens, inner


def _commands(tokens: list[str]) -> list[tuple[list[str], list[str]]]:
    """Simple commands as (words, redirection targets)."""
    out: list[tuple[list[str], list[str]]] = []
    words: list[str] = []
    targets: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in _SEPARATORS:
            if words or targets:
                out.append((words, targets))
            words, targets = [], []
        elif tok in (">", ">>", ">|", "&>"):
            target = tokens[i + 1] if i + 1 < len(tokens) else ""
            targets.append("" if target in _SEPARATORS or target[:1] in "<>" else target)
            i += 1
        elif tok in (">&", "<&", "<", "<<", "<<<"):
            i += 1  # dup of a descriptor, or an input: reads only
        else:
            words.append(tok)
        i += 1
    if words or targets:
        out.append((words, targets))
    return out


def classify_shell(text: str) -> Finding:
    """Risk of a shell step: the worst of its commands (pipelines, sequences, substitutions).

    A step that only sets variables (``export RATELIMIT_ENABLED=false``) changes nothing in
    the shell that runs it; as written it is a setting of the service (a kill switch): a write,
    uncertain, so a fence may still say ``risk=read``."""
    tokens, inner = _shell_tokens(text)
    commands = _commands(tokens)
    if commands and not inner and all(_sets_only(w) and not t for w, t in commands):
        return _write("only sets environment variables (a setting of the service)", certain=False)
    findings: list[Finding] = []
    for words, targets in commands:
        for target in targets:
            if target not in ("/dev/null", "/dev/stdout", "/dev/stderr"):
                findings.append(
                    _write(f"output redirection to {target}" if target else "output redirection")
                )
        if words:
            findings.append(_command(words))
    findings += [classify_shell(body) for body in inner if body.strip()]
    return _worst(findings, "no command")


def _sets_only(words: list[str]) -> bool:
    if words[:1] == ["export"]:
        words = words[1:]
    return bool(words) and all(_ASSIGNMENT.match(w) for w in words)


_WRAPPERS = {"sudo", "time", "nohup", "nice", "env", "command", "exec", "timeout", "watch", "npx"}
# Shell grammar words in front of a command ("do curl ...", "if grep ..."): the command decides.
_KEYWORDS = {"do", "then", "else", "elif", "if", "while", "until", "!"}
_READ_COMMANDS = {
    "cat", "grep", "egrep", "fgrep", "zgrep", "zcat", "rg", "head", "tail", "less", "more",
    "ls", "ll", "df", "du", "ps", "top", "htop", "free", "uptime", "date", "echo", "printf",
    "wc", "sort", "uniq", "cut", "tr", "jq", "yq", "column", "dig", "nslookup", "host",
    "ping", "traceroute", "tracepath", "mtr", "whois", "netstat", "ss", "lsof", "vmstat",
    "iostat", "mpstat", "printenv", "whoami", "hostname", "id", "uname", "which", "type",
    "stat", "file", "test", "[", "true", "false", "sleep", "journalctl", "dmesg", "cd",
    "pwd", "export", "set", "nc", "telnet", "basename", "dirname", "realpath", "readlink",
    "md5sum", "sha256sum", "base64", "diff", "cmp", "tac", "nl", "fold", "expand", "seq",
    "getent", "nproc", "lscpu", "lsblk", "findmnt", "exit", "return", "local", "read",
    "for", "case", "done", "fi", "esac", "unset",
}  # fmt: skip
_WRITE_COMMANDS = {
    "rm", "mv", "cp", "mkdir", "rmdir", "touch", "chmod", "chown", "ln", "tee", "kill",
    "pkill", "killall", "install", "crontab", "useradd", "userdel", "passwd", "reboot",
    "shutdown", "pg_basebackup", "createdb", "scp", "rsync",
}  # fmt: skip
_DANGER_COMMANDS = {"dropdb", "pg_restore", "mkfs", "dd", "truncate", "shred", "wipefs"}
_REDIS_READ = {
    "GET", "MGET", "KEYS", "SCAN", "SSCAN", "HSCAN", "ZSCAN", "LLEN", "LRANGE", "LINDEX",
    "INFO", "PING", "TTL", "PTTL", "TYPE", "EXISTS", "STRLEN", "HGET", "HMGET", "HGETALL",
    "HLEN", "HKEYS", "HVALS", "HEXISTS", "SMEMBERS", "SISMEMBER", "SCARD", "ZCARD",
    "ZRANGE", "ZREVRANGE", "ZSCORE", "ZCOUNT", "ZRANGEBYSCORE", "XLEN", "XINFO", "XRANGE",
    "XREVRANGE", "XPENDING", "DBSIZE", "MEMORY", "SLOWLOG", "LATENCY", "TIME", "ECHO",
    "ROLE", "LASTSAVE", "OBJECT", "PUBSUB", "CLUSTER", "COMMAND",
}  # fmt: skip
_REDIS_DANGER = {"FLUSHALL", "FLUSHDB", "DEL", "UNLINK", "SHUTDOWN", "SWAPDB"}
_REDIS_OPTIONS_WITH_VALUE = {"-h", "-p", "-a", "-n", "-u", "-s", "--user", "--pass", "-r", "-i"}
_KUBECTL_READ = {
    "get", "describe", "logs", "top", "explain", "version", "cluster-info", "api-resources",
    "api-versions", "auth", "events", "diff",
}  # fmt: skip
_DOCKER_READ = {"ps", "logs", "inspect", "stats", "images", "top", "version", "info", "port"}


def _command(words: list[str]) -> Finding:
    while words and (_ASSIGNMENT.match(words[0]) or words[0] in _KEYWORDS):
        words = words[1:]
    while words and words[0] in _WRAPPERS:
        words = words[1:]
        # the wrapper's own options and arguments ("timeout 5", "watch -n 5")
        while words and (words[0].startswith("-") or words[0][:1].isdigit()):
            words = words[1:]
        while words and _ASSIGNMENT.match(words[0]):
            words = words[1:]
    if not words:
        return _read("no command")
    if len(words) == 1 and " " in words[0]:
        return classify_shell(words[0])  # watch '...', a quoted command line
    if words[0] in ("sh", "bash") and "-c" in words[1:-1]:
        return classify_shell(words[words.index("-c") + 1])
    name = words[0].rsplit("/", 1)[-1] if not words[0].startswith("./") else words[0]
    args = words[1:]
    special = _SPECIAL.get(name)
    if special is not None:
        return special(args)
    if "rollback" in args:
        return _danger(f"{name} rollback")
    if name in _DANGER_COMMANDS:
        return _danger(name)
    if name in _WRITE_COMMANDS:
        if name == "rm" and any(a.startswith("-") and ("r" in a or "R" in a) for a in args):
            return _danger("rm -r")
        return _write(name)
    if name in _READ_COMMANDS:
        return _read(name)
    if name == "xargs":
        rest = [a for a in args if not a.startswith("-")]
        return _command(rest) if rest else _read("xargs")
    return _write(f"{name} is not known to be read-only", certain=False)


def _sub(args: list[str]) -> str:
    return next((a for a in args if not a.startswith("-")), "")


def _curl(args: list[str]) -> Finding:
    method = ""
    for i, arg in enumerate(args):
        if arg in ("-X", "--request") and i + 1 < len(args):
            method = args[i + 1].upper()
        elif arg.startswith("-X") and len(arg) > 2:
            method = arg[2:].upper()
        elif arg.startswith("--request="):
            method = arg.split("=", 1)[1].upper()
        elif arg in ("-d", "-F", "-T", "--form", "--upload-file", "--json") or arg.startswith(
            ("--data", "--json", "--form")
        ):
            method = method or "POST"
        elif arg in ("-o", "--output") and i + 1 < len(args) and args[i + 1] != "/dev/null":
            return _write("curl -o (writes a file)")
        elif arg in ("-O", "--remote-name"):
            return _write("curl -O (writes a file)")
    if method in ("", "GET", "HEAD", "OPTIONS"):
        return _read(f"curl {method or 'GET'}")
    finding = classify_http_method(method)
    return Finding(finding.risk, f"curl {method}", finding.certain)


def _wget(args: list[str]) -> Finding:
    if "--spider" in args or any(a in ("-O-", "-O", "-qO-") for a in args):
        return _read("wget to stdout")
    return _write("wget (writes a file)")


def _sed(args: list[str]) -> Finding:
    if any(a.startswith("-i") or a == "--in-place" for a in args):
        return _write("sed -i")
    return _read("sed")


def _awk(args: list[str]) -> Finding:
    program = " ".join(args)
    if "system(" in program or re.search(r"[^=!<>]>", program.replace(">=", "")):
        return _write("awk with system() or redirection", certain=False)
    return _read("awk")


def _find(args: list[str]) -> Finding:
    if "-delete" in args:
        return _danger("find -delete")
    if any(a in ("-exec", "-execdir", "-ok") for a in args):
        return _write("find -exec", certain=False)
    return _read("find")


def _kubectl(args: list[str]) -> Finding:
    words = [a for a in args if not a.startswith("-")]
    verb = words[0] if words else ""
    if verb == "exec" and "--" in args:
        return _command(args[args.index("--") + 1 :])
    if verb == "delete":
        return _danger("kubectl delete")
    if verb == "rollout":
        sub = words[1] if len(words) > 1 else ""
        if sub == "undo":
            return _danger("kubectl rollout undo")
        if sub in ("status", "history"):
            return _read(f"kubectl rollout {sub}")
        return _write(f"kubectl rollout {sub}".strip())
    if verb == "config" and len(words) > 1 and words[1] in ("view", "get-contexts"):
        return _read(f"kubectl config {words[1]}")
    if verb in _KUBECTL_READ:
        return _read(f"kubectl {verb}")
    if verb == "drain":
        return _danger("kubectl drain")
    return _write(f"kubectl {verb}".strip())


def _docker(args: list[str], name: str = "docker") -> Finding:
    words = [a for a in args if not a.startswith("-")]
    verb = words[0] if words else ""
    if verb == "compose":
        return _docker(args[args.index("compose") + 1 :], "docker compose")
    if verb == "exec":
        # docker exec [options] CONTAINER CMD...: compose's service takes the container's place.
        rest = args[args.index("exec") + 1 :]
        while rest and rest[0].startswith("-"):
            rest = rest[1:]
        return _command(rest[1:]) if len(rest) > 1 else _write(f"{name} exec", certain=False)
    if verb in _DOCKER_READ:
        return _read(f"{name} {verb}")
    if verb in ("volume", "system") and len(words) > 1 and words[1] in ("rm", "prune"):
        return _danger(f"{name} {verb} {words[1]}")
    if verb == "down" and ("-v" in args or "--volumes" in args):
        return _danger(f"{name} down --volumes")
    return _write(f"{name} {verb}".strip())


def _redis(args: list[str]) -> Finding:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] in ("--scan", "--bigkeys", "--memkeys", "--stat", "--latency"):
            return _read(f"redis-cli {args[i]}")
        i += 2 if args[i] in _REDIS_OPTIONS_WITH_VALUE else 1
    if i >= len(args):
        return _write("redis-cli with no command", certain=False)
    command = args[i].upper()
    sub = args[i + 1].upper() if i + 1 < len(args) else ""
    if command in _REDIS_DANGER:
        return _danger(f"redis-cli {command}")
    if (command, sub) in (("CONFIG", "GET"), ("CLIENT", "LIST"), ("CLIENT", "INFO")):
        return _read(f"redis-cli {command} {sub}")
    if command in _REDIS_READ:
        return _read(f"redis-cli {command}")
    return _write(f"redis-cli {command}")


def _psql(args: list[str]) -> Finding:
    sql = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-c", "--command")] + [
        a.split("=", 1)[1] for a in args if a.startswith("--command=")
    ]
    if not sql:
        return _write("psql without -c", certain=False)
    found = _worst([classify_sql(s) for s in sql], "no SQL statement")
    return Finding(found.risk, f"psql: {found.reason}", found.certain)


def _git(args: list[str]) -> Finding:
    words = [a for a in args if not a.startswith("-")]
    verb = words[0] if words else ""
    if verb == "push" and any(a in ("-f", "--force") or a.startswith("--force") for a in args):
        return _danger("git push --force")
    if verb == "reset" and "--hard" in args:
        return _danger("git reset --hard")
    if verb == "clean":
        return _danger("git clean")
    if verb in ("log", "status", "diff", "show", "blame", "rev-parse", "describe", "shortlog"):
        return _read(f"git {verb}")
    return _write(f"git {verb}".strip())


def _systemctl(args: list[str]) -> Finding:
    verb = _sub(args)
    if verb in ("status", "is-active", "is-enabled", "is-failed", "show", "list-units", "cat"):
        return _read(f"systemctl {verb}")
    return _write(f"systemctl {verb}".strip())


def _helm(args: list[str]) -> Finding:
    verb = _sub(args)
    if verb in ("rollback", "uninstall", "delete"):
        return _danger(f"helm {verb}")
    if verb in ("list", "ls", "status", "history", "get", "show", "template", "version"):
        return _read(f"helm {verb}")
    return _write(f"helm {verb}".strip())


def _terraform(args: list[str]) -> Finding:
    verb = _sub(args)
    if verb == "destroy" or (verb == "apply" and "-destroy" in args):
        return _danger("terraform destroy")
    if verb in ("plan", "show", "output", "validate", "version", "fmt") or args[:2] == [
        "state",
        "list",
    ]:
        return _read(f"terraform {verb}")
    return _write(f"terraform {verb}".strip())


def _openssl(args: list[str]) -> Finding:
    if any(a in ("-out", "-keyout") for a in args):
        return _write("openssl -out (writes a file)")
    return _read(f"openssl {_sub(args)}".strip())


def _prisma(args: list[str]) -> Finding:
    text = " ".join(args)
    if "migrate reset" in text or "--force-reset" in text or "--accept-data-loss" in text:
        return _danger("prisma reset")
    return _write("prisma", certain=False)


_SPECIAL = {
    "curl": _curl,
    "wget": _wget,
    "sed": _sed,
    "awk": _awk,
    "gawk": _awk,
    "find": _find,
    "kubectl": _kubectl,
    "docker": _docker,
    "docker-compose": lambda a: _docker(a, "docker-compose"),
    "redis-cli": _redis,
    "psql": _psql,
    "git": _git,
    "systemctl": _systemctl,
    "helm": _helm,
    "terraform": _terraform,
    "openssl": _openssl,
    "prisma": _prisma,
}
