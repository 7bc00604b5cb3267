"""gunicorn settings for flask-wecom behind nginx (docs/deploy.rst).

    gunicorn -c deploy/gunicorn.conf.py --chdir deploy wsgi:app

Command-line options override these (``--bind``, ``--workers``); so do the environment variables read below.
"""
import multiprocessing
import os

# nginx on the same host proxies to this address; never expose gunicorn itself to the internet
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# Workers are processes; each keeps its own database pool and thread for AuthCode exchanges. flask-wecom
# shares what must be shared through PostgreSQL (permanent codes, AuthCodes, replay marks) and Redis
# (tokens, with a lock so that N workers on M hosts fetch one token, not N×M).
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# Threads let a worker serve other requests while one waits on WeCom (a login makes 3–4 API calls).
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# Build the app in each worker after the fork: no database connection or Redis socket is ever shared
# between processes, and the workers create (or upgrade) the tables together under a database lock.
preload_app = False

# With gthread workers this is how long a worker process may stop reporting to the master (a hung
# process) before it is killed and replaced; it does not cut a slow request (one waiting on WeCom for
# WECOM_HTTP_TIMEOUT, 5 s to connect and 10 s to read, with retries). With the sync worker class it
# would: keep it above a login's worst case if you switch.
timeout = 60
# On restart, a worker finishes its requests (and a running AuthCode exchange) before it exits.
graceful_timeout = 30
keepalive = 5

# Trust X-Forwarded-Proto only from nginx (its address as this host sees it). wsgi.py's ProxyFix does
# the same for the host and the client address.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")

# gunicorn >= 24 opens a control socket at a per-user default path, which several services of one user
# would share; the recipe does not use it (older gunicorn ignores this setting)
control_socket_disable = True
