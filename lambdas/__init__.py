"""Lambda handlers: each parses its event, calls one domain function, returns JSON."""
