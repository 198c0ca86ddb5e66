"""The `heshi` command line: serve, migrate, create-org, create-user, demo."""
