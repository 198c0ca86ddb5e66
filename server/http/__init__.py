"""What the REST API and the pages share: app keys, request parsing, auth helpers, error rendering."""
