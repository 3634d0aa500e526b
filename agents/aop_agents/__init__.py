"""aop_agents."""
