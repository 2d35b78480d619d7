"""Test harness shared by every component: real PostgreSQL, real Redis, emulated Kubernetes."""
