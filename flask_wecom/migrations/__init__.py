"""flask-wecom's Alembic migrations: ``env.py`` and ``versions/`` (one revision per schema change).

Run by :mod:`flask_wecom.schema` (on first use, or ``flask wecom db upgrade``) with their own version table,
``wecom_alembic_version``. An application that runs its own Alembic / Flask-Migrate can include
``versions/`` as an independent branch (label ``wecom``) instead: see README, "Database schema".
"""
