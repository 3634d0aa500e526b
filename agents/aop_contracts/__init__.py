"""aop_contracts."""
