"""aop_operator."""
