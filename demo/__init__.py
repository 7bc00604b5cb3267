"""The flask-wecom demo site: ``flask --app demo.app run`` (or ``bash demo/run``)."""
