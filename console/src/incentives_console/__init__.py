"""The operator console: a server-rendered web app over the four services' operator APIs."""
