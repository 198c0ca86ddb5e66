"""Authentication: password hashing, invitation tokens, browser sessions, CSRF, login rate limits."""
