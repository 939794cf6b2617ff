"""The local loop around a handler: scaffold a project, serve it with reloads."""
