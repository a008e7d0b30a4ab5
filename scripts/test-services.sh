#!/usr/bin/env bash
# The servers the test suite talks to: PostgreSQL, MariaDB and RabbitMQ on
# loopback.  Installed from Debian's packages when missing, started when not
# answering; a no-op where they already run.
set -euo pipefail
SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
need=()
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v rabbitmq-server >/dev/null || [ -x /usr/sbin/rabbitmq-server ] || need+=(rabbitmq-server)
if [ ${#need[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
if ! listening 5432; then
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
fi
if ! listening 3306; then
    $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
fi
if ! listening 5672; then
    $SUDO rabbitmq-server -detached
fi
for _ in $(seq 1 60); do
    listening 5432 && listening 3306 && listening 5672 && break
    sleep 1
done
# Trust auth on loopback for PostgreSQL's postgres role, root without a password for MariaDB.
psql -h 127.0.0.1 -U postgres -c 'select 1' >/dev/null 2>&1 || \
    $SUDO -u postgres psql -c "ALTER USER postgres PASSWORD NULL" >/dev/null 2>&1 || true
mysql -h 127.0.0.1 -u root -e 'select 1' >/dev/null
echo "test services: PostgreSQL, MariaDB, RabbitMQ answering"
