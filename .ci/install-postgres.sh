#!/usr/bin/env bash
# Make a PostgreSQL server available to the tests (tests/postgres.py starts a private one per session).
# Idempotent: installs the Debian `postgresql` package only when no /usr/lib/postgresql/*/bin/initdb
# exists, and never starts the system service or any server. Then, if the venv exists, makes sure it
# has the psycopg driver (normally already there from requirements.txt).
# Usage: bash .ci/install-postgres.sh            (as root, or with passwordless sudo)
#        PYTHON=path/to/python bash .ci/install-postgres.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
DRIVER="psycopg[binary]>=3.2"

find_initdb() { compgen -G "/usr/lib/postgresql/*/bin/initdb" | sort -V | tail -n 1; }

if [ -z "$(find_initdb)" ]; then
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        echo "install-postgres: PostgreSQL is missing and installing it needs root (apt-get install postgresql)" >&2
        exit 1
    fi
    started=$SECONDS
    log="$(mktemp)"
    # Keep the package scripts from starting the system service (a policy-rc.d answering 101 = "not allowed").
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
        "${as_root[@]}" chmod 755 "$policy"
        trap '"${as_root[@]}" rm -f "$policy"' EXIT
    fi
    if ! { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; } >"$log" 2>&1; then
        cat "$log" >&2
        echo "install-postgres: apt-get install postgresql failed" >&2
        exit 1
    fi
    rm -f "$log"
    if [ -z "$(find_initdb)" ]; then
        echo "install-postgres: the postgresql package installed no /usr/lib/postgresql/*/bin/initdb" >&2
        exit 1
    fi
    echo "install-postgres: installed $(dirname "$(find_initdb)") in $((SECONDS - started))s"
else
    echo "install-postgres: using $(dirname "$(find_initdb)")"
fi

if [ -x "$PYTHON" ] && ! "$PYTHON" -c "import psycopg" 2>/dev/null; then
    "$PYTHON" -m pip install -q --disable-pip-version-check "$DRIVER"
    echo "install-postgres: installed $DRIVER into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
fi
