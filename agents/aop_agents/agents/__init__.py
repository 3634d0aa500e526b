"""Agents, one module a service."""
