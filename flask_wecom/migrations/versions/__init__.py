"""flask-wecom's schema revisions (``wecom_0001`` …); a package so that wheels ship them."""
