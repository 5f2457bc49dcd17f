"""The risk of steps without ``risk=``, from their text: tables of real commands (most from the
five seeds in ../shared/seeds/) with the risk and the reason that decided it."""

from __future__ import annotations

import pytest

from opsbook.runbooks.models import Risk
from opsbook.runbooks.risk import classify_http, classify_shell, classify_sql

R, W, D = Risk.READ, Risk.WRITE, Risk.DANGER

SHELL = [
    # from the seeds
    ("curl https://lilove.org/healthz", R, "curl GET"),
    ("curl -f http://localhost:3001/health || exit 1", R, "curl GET"),
    ('psql $DATABASE_URL -c "SELECT COUNT(*) FROM pg_stat_activity;"', R, "psql: SELECT"),
    ('psql -p 6432 pgbouncer -c "SHOW POOLS;"', R, "psql: SHOW"),
    (
        'psql $DATABASE_URL -c "\nSELECT pg_terminate_backend(pid)\nFROM pg_stat_activity\n'
        "WHERE state = 'idle' AND query_start < NOW() - INTERVAL '5 minutes';\"",
        D,
        "psql: pg_terminate_backend",
    ),
    ("psql $DATABASE_URL -c \"COPY users FROM 'users.csv' CSV HEADER\"", W, "psql: COPY"),
    ("psql $DATABASE_URL < rollback.sql", W, "psql without -c"),
    ("kubectl get pods -l app=api -n inmidst", R, "kubectl get"),
    ("kubectl top pods -l app=api -n inmidst", R, "kubectl top"),
    ("kubectl rollout status deployment/api -n inmidst", R, "kubectl rollout status"),
    (
        "kubectl logs -l app=api -n inmidst --tail=1000 | jq 'select(.level == \"error\")'",
        R,
        "kubectl logs",
    ),
    ("kubectl rollout restart deployment/api -n inmidst", W, "kubectl rollout restart"),
    ("kubectl scale deployment orchestrator --replicas=1 -n inmidst", W, "kubectl scale"),
    ("kubectl rollout undo deployment/api -n inmidst", D, "kubectl rollout undo"),
    ("kubectl exec -it deployment/api -n inmidst -- curl localhost:3001/health", R, "curl GET"),
    ("docker-compose exec redis redis-cli INFO stats | grep hit", R, "redis-cli INFO"),
    ("docker-compose exec redis redis-cli FLUSHDB", D, "redis-cli FLUSHDB"),
    ("docker-compose logs --tail=200 api | grep -i error", R, "docker-compose logs"),
    ("docker-compose restart api", W, "docker-compose restart"),
    ("docker stats api", R, "docker stats"),
    ("git log --oneline -5", R, "git log"),
    ("git push origin main", W, "git push"),
    ("curl -X POST https://your-domain.com/ops/dlq/retry", W, "curl POST"),
    ("curl -X POST http://localhost:3001/webhooks/stripe -d '{}'", W, "curl POST"),
    ("curl -X GET \"https://api.sendgrid.com/v3/mail/settings\" \\\n  -H 'A: b'", R, "curl GET"),
    ("watch -n 5 'curl -s http://localhost:5000/ops/queue_health | jq .depth'", R, "curl GET"),
    ("tail -100 logs/errors.jsonl | jq", R, "tail"),
    ("sudo systemctl stop postgresql", W, "systemctl stop"),
    ("pkill gunicorn", W, "pkill"),
    ("helm upgrade inmidst ./infra/helm \\\n  --namespace inmidst --wait", W, "helm upgrade"),
    (
        "pg_dump $DATABASE_URL > /tmp/emergency-backup-$(date +%Y%m%d-%H%M%S).sql",
        W,
        "output redirection to /tmp/emergency-backup-$SUB.sql",
    ),
    (
        "echo \"restore_command = 'cp %f %p'\" >> recovery.conf",
        W,
        "output redirection to recovery.conf",
    ),
    ("npm run db:push", W, "npm is not known to be read-only"),
    ("python3 db/backup.py", W, "python3 is not known to be read-only"),
    # the rest of the known sets
    ("redis-cli -h cache -p 6379 LLEN jobs:pending", R, "redis-cli LLEN"),
    ("redis-cli --scan --pattern 'sess:*' | head", R, "redis-cli --scan"),
    ("redis-cli CONFIG GET maxmemory", R, "redis-cli CONFIG GET"),
    ("redis-cli CONFIG SET maxmemory 1gb", W, "redis-cli CONFIG"),
    ("redis-cli FLUSHALL", D, "redis-cli FLUSHALL"),
    ("redis-cli DEL session:1", D, "redis-cli DEL"),
    ("cat /var/log/app.log 2>/dev/null | grep -c ERROR", R, "cat"),
    ("df -h; free -m; uptime", R, "df"),
    ("sed -n 1,10p app.log", R, "sed"),
    ("sed -i 's/a/b/' app.conf", W, "sed -i"),
    ("awk '{print $1}' access.log | sort | uniq -c", R, "awk"),
    ("awk '{ system(\"rm \" $1) }' list", W, "awk with system() or redirection"),
    ("dig +short api.example.com", R, "dig"),
    ("openssl s_client -connect api.example.com:443 </dev/null", R, "openssl s_client"),
    ("journalctl -u api --since '10 min ago'", R, "journalctl"),
    ("rm /tmp/lock", W, "rm"),
    ("rm -rf /var/lib/app/cache", D, "rm -r"),
    ("ls $(rm -rf /tmp/x)", D, "rm -r"),
    ("echo `kubectl delete pod api-0`", D, "kubectl delete"),
    ("for p in a b; do kubectl delete pod $p; done", D, "kubectl delete"),
    ("bash -c 'dropdb app'", D, "dropdb"),
    ("pg_restore -d app backup.dump", D, "pg_restore"),
    ("terraform destroy -auto-approve", D, "terraform destroy"),
    ("terraform plan", R, "terraform plan"),
    ("git push --force origin main", D, "git push --force"),
    ("helm rollback api 3", D, "helm rollback"),
    ("heroku rollback v12", D, "heroku rollback"),
    ("npx prisma migrate reset --force", D, "prisma reset"),
    ("curl -X DELETE https://api.example/flags/all", D, "curl DELETE"),
    ("curl -o /dev/null -w '%{http_code}' https://a.example/", R, "curl GET"),
    ("curl -o page.html https://a.example/", W, "curl -o (writes a file)"),
    ("find /tmp -name '*.tmp' -delete", D, "find -delete"),
    ("cat x | tee copy", W, "tee"),
    ("FOO=1 ./scripts/fix.sh", W, "./scripts/fix.sh is not known to be read-only"),
    # Levqor's kill switches: as written they set the service's flags, not look at anything
    (
        "# Disable rate limiting temporarily\nexport RATELIMIT_ENABLED=false\n"
        "# Restart application",
        W,
        "only sets environment variables (a setting of the service)",
    ),
    (
        "export A=false\nexport B=false",
        W,
        "only sets environment variables (a setting of the service)",
    ),
    ("GUNICORN_WORKERS=1", W, "only sets environment variables (a setting of the service)"),
    ("export PGHOST=db; psql -c 'SELECT 1'", R, "export"),
    ("export PGHOST", R, "export"),
    ("# only a comment\n\n", R, "no command"),
    ("echo '; rm -rf /' # quoted, not run", R, "echo"),
]


@pytest.mark.parametrize(("text", "risk", "reason"), SHELL)
def test_shell_steps_are_classified_conservatively(text: str, risk: Risk, reason: str) -> None:
    found = classify_shell(text)
    assert (found.risk, found.reason) == (risk, reason)


def test_unknown_commands_are_uncertain_writes_and_known_ones_certain() -> None:
    assert classify_shell("./fix.sh").certain is False
    assert classify_shell("kubectl apply -f x.yaml").certain is True
    assert classify_shell("ls").certain is True


SQL = [
    # from the seeds
    ("SELECT count(*) FROM pg_stat_activity;", R, "SELECT"),
    (
        "-- Kill long-running queries\nSELECT pg_terminate_backend(pid)\nFROM pg_stat_activity\n"
        "WHERE age(clock_timestamp(), query_start) > interval '5 minutes';",
        D,
        "pg_terminate_backend",
    ),
    (
        "ALTER SYSTEM SET log_statement = 'all';\nSELECT pg_reload_conf();",
        W,
        "ALTER SYSTEM",
    ),
    (
        "CREATE INDEX idx_orders_consumer_created\nON orders(consumer_id, created_at DESC);\n"
        "EXPLAIN ANALYZE\nSELECT * FROM orders WHERE consumer_id = 'user-id';",
        W,
        "CREATE INDEX",
    ),
    ("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;", W, "CREATE EXTENSION"),
    ("-- Run during low traffic\nVACUUM ANALYZE;", W, "VACUUM"),
    (
        "UPDATE \"Subscription\" SET status='incomplete' WHERE status='active' AND id = 1;",
        W,
        "UPDATE ... WHERE",
    ),
    (
        "SELECT pid, now() - query_start AS duration FROM pg_stat_activity\n"
        "WHERE state != 'idle' ORDER BY duration DESC;",
        R,
        "SELECT",
    ),
    # the rules
    ("WITH t AS (SELECT 1) SELECT * FROM t", R, "SELECT"),
    ("EXPLAIN SELECT 1", R, "EXPLAIN"),
    ("EXPLAIN DELETE FROM t", R, "EXPLAIN"),
    ("EXPLAIN ANALYZE DELETE FROM t WHERE id = 1", W, "EXPLAIN ANALYZE runs DELETE ... WHERE"),
    ("EXPLAIN (ANALYZE, BUFFERS) DELETE FROM t", D, "EXPLAIN ANALYZE runs DELETE without WHERE"),
    ("SHOW max_connections", R, "SHOW"),
    ("SET statement_timeout = '5s'; SELECT 1", R, "SELECT"),
    ("SELECT 'DROP TABLE users' AS text", R, "SELECT"),
    ("-- DROP TABLE users\n/* TRUNCATE t */ SELECT 1", R, "SELECT"),
    ("SELECT $$DELETE FROM t$$", R, "SELECT"),
    ("SELECT * FROM jobs FOR UPDATE SKIP LOCKED", W, "SELECT FOR UPDATE"),
    ("SELECT * INTO backup FROM users", W, "SELECT INTO"),
    ("SELECT pg_cancel_backend(42)", W, "pg_cancel_backend"),
    ("INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = 1", W, "INSERT"),
    ("DROP TABLE users", D, "DROP TABLE"),
    ("TRUNCATE sessions", D, "TRUNCATE"),
    ("DELETE FROM sessions", D, "DELETE without WHERE"),
    ("DELETE FROM sessions WHERE expires < now()", W, "DELETE ... WHERE"),
    ("UPDATE users SET admin = true", D, "UPDATE without WHERE"),
    (
        "WITH gone AS (DELETE FROM t RETURNING id) SELECT count(*) FROM gone",
        D,
        "DELETE without WHERE",
    ),
    ("ALTER TABLE users DROP COLUMN email", D, "ALTER TABLE ... DROP"),
    ("ALTER TABLE users ADD COLUMN x int", W, "ALTER TABLE"),
    ("COPY (SELECT 1) TO STDOUT", R, "COPY TO STDOUT"),
    ("DO $$ BEGIN PERFORM 1; END $$", W, "DO is not known to be read-only"),
    ("\\x\nSELECT 1", R, "SELECT"),
    ("-- nothing", R, "no SQL statement"),
]


@pytest.mark.parametrize(("text", "risk", "reason"), SQL)
def test_sql_steps_are_classified(text: str, risk: Risk, reason: str) -> None:
    found = classify_sql(text)
    assert (found.risk, found.reason) == (risk, reason)


@pytest.mark.parametrize(
    ("text", "risk"),
    [
        ("GET https://a.example/health", R),
        ("HEAD https://a.example/", R),
        ("options https://a.example/", R),
        ("POST https://a.example/ops/dlq/retry\n\n{}", W),
        ("PUT https://a.example/x", W),
        ("PATCH https://a.example/x", W),
        ("DELETE https://a.example/flags/all", D),
    ],
)
def test_http_steps_are_classified_by_method(text: str, risk: Risk) -> None:
    assert classify_http(text).risk is risk
