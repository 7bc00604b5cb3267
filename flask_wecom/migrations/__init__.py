"""flask-wecom's Alembic migrations: ``env.py`` and ``versions/`` (one revision per schema change).

Run by :mod:`flask_wecom.schema` (on first use, or ``flask wecom db upgrade``) with their own version table,
``wecom_alembic_version``. An application that runs its own Alembic / Flask-Migrate can include
``versions/`` as an independent branch (label ``wecom``) instead: see README, "Database schema and upgrades".

A schema change (for flask-wecom developers): change the tables in ``store.py``, then write the revision
with autogenerate against a database at the current head, and add its id to ``schema.REVISIONS``::

    python -c "from alembic import command; from flask_wecom.schema import alembic_config; \\
    c = alembic_config('sqlite:////tmp/wecom-dev.sqlite3'); command.upgrade(c, 'wecom_0002'); \\
    command.revision(c, 'what changes', autogenerate=True, rev_id='wecom_0003')"

tests/test_schema.py then checks that the head matches ``store.py`` on SQLite, PostgreSQL and MariaDB.
"""
