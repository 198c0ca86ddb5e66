"""HTML pages (Jinja2): sign-in, case list, case detail, create case, join link, session page."""
