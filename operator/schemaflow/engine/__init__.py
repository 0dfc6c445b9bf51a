"""The migration engine: golang-migrate compatible, lock-safe; knows nothing of Kubernetes."""
